/* ca.h: placeholder */
#ifndef WW_CA_H
#define WW_CA_H
int ca_placeholder(void);
#endif
