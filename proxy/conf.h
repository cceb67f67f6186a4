/* conf.h: placeholder */
#ifndef WW_CONF_H
#define WW_CONF_H
int conf_placeholder(void);
#endif
