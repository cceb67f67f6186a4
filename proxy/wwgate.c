/* wwgate.c: placeholder main, replaced by the proxy/ work. */
#include "config.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("wwgate %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: wwgate --version\n");
	return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
