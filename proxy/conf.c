#include "config.h"
#include "proxy/conf.h"
int
conf_placeholder(void)
{
	return 0;
}
