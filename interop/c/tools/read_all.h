/* Read a whole stream into one malloc'd buffer, growing it as needed. Host tools only (tools/runner.c's command
 * line and tools/avrsim.c); returns NULL when memory runs out. */
#ifndef IOTE_TOOLS_READ_ALL_H
#define IOTE_TOOLS_READ_ALL_H

#include <stdio.h>
#include <stdlib.h>

static unsigned char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    unsigned char *p = (unsigned char *)malloc(cap);
    while (p != NULL && (got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *q = (unsigned char *)realloc(p, cap * 2);
            if (q == NULL) {
                free(p);
                return NULL;
            }
            p = q;
            cap *= 2;
        }
    }
    *len = n;
    return p;
}

#endif
