/* wwca.c: placeholder main, replaced by the certs/ work. */
#include "config.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("wwca %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: wwca --version\n");
	return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
