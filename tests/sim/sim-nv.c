/*
 * Non-volatile memory of the simulated coordinator (see sim-nv.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim-nv.h"

typedef struct Item {
        bool ext;
        uint8_t sys;
        uint16_t id;
        uint16_t sub;
        size_t len;
        uint8_t *data;
} Item;

struct SimNv {
        Item *items;
        size_t n, cap;
        bool dirty;
};

SimNv *sim_nv_new(void) {
        return calloc(1, sizeof(SimNv));
}

SimNv *sim_nv_free(SimNv *nv) {
        if (!nv)
                return NULL;
        for (size_t i = 0; i < nv->n; i++)
                free(nv->items[i].data);
        free(nv->items);
        free(nv);
        return NULL;
}

static Item *find(const SimNv *nv, bool ext, uint8_t sys, uint16_t id, uint16_t sub) {
        for (size_t i = 0; i < nv->n; i++) {
                Item *it = &nv->items[i];
                if (it->ext == ext && it->id == id && (!ext || (it->sys == sys && it->sub == sub)))
                        return it;
        }
        return NULL;
}

static int put(SimNv *nv, bool ext, uint8_t sys, uint16_t id, uint16_t sub, const uint8_t *data, size_t len) {
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
                return -ENOMEM;
        if (data)
                memcpy(copy, data, len);
        else
                memset(copy, 0, len);
        Item *it = find(nv, ext, sys, id, sub);
        if (!it) {
                if (nv->n == nv->cap) {
                        size_t cap = nv->cap ? nv->cap * 2 : 64;
                        Item *items = realloc(nv->items, cap * sizeof(Item));
                        if (!items) {
                                free(copy);
                                return -ENOMEM;
                        }
                        nv->items = items;
                        nv->cap = cap;
                }
                it = &nv->items[nv->n++];
                *it = (Item) { .ext = ext, .sys = sys, .id = id, .sub = sub };
        } else
                free(it->data);
        it->data = copy;
        it->len = len;
        nv->dirty = true;
        return 0;
}

static int del(SimNv *nv, Item *it) {
        if (!it)
                return -ENOENT;
        free(it->data);
        *it = nv->items[--nv->n];
        nv->dirty = true;
        return 0;
}

const uint8_t *sim_nv_get(const SimNv *nv, uint16_t id, size_t *len) {
        Item *it = find(nv, false, 0, id, 0);
        if (len)
                *len = it ? it->len : 0;
        return it ? it->data : NULL;
}

uint8_t *sim_nv_get_mut(SimNv *nv, uint16_t id, size_t *len) {
        Item *it = find(nv, false, 0, id, 0);
        if (len)
                *len = it ? it->len : 0;
        if (it)
                nv->dirty = true;
        return it ? it->data : NULL;
}

int sim_nv_set(SimNv *nv, uint16_t id, const uint8_t *data, size_t len) {
        return put(nv, false, 0, id, 0, data, len);
}

int sim_nv_init_item(SimNv *nv, uint16_t id, size_t len, const uint8_t *init, size_t init_len) {
        if (find(nv, false, 0, id, 0))
                return 0;
        if (init_len > len)
                return -EINVAL;
        int r = put(nv, false, 0, id, 0, NULL, len);
        if (r < 0)
                return r;
        if (init_len > 0)
                memcpy(find(nv, false, 0, id, 0)->data, init, init_len);
        return 1;
}

int sim_nv_write(SimNv *nv, uint16_t id, size_t offset, const uint8_t *data, size_t len) {
        Item *it = find(nv, false, 0, id, 0);
        if (!it)
                return -ENOENT;
        if (offset > it->len || len > it->len - offset)
                return -ERANGE;
        memcpy(it->data + offset, data, len);
        nv->dirty = true;
        return 0;
}

int sim_nv_delete(SimNv *nv, uint16_t id) {
        return del(nv, find(nv, false, 0, id, 0));
}

const uint8_t *sim_nv_ext_get(const SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, size_t *len) {
        Item *it = find(nv, true, sys, item, sub);
        if (len)
                *len = it ? it->len : 0;
        return it ? it->data : NULL;
}

uint8_t *sim_nv_ext_get_mut(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, size_t *len) {
        Item *it = find(nv, true, sys, item, sub);
        if (len)
                *len = it ? it->len : 0;
        if (it)
                nv->dirty = true;
        return it ? it->data : NULL;
}

int sim_nv_ext_set(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, const uint8_t *data, size_t len) {
        return put(nv, true, sys, item, sub, data, len);
}

int sim_nv_ext_delete(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub) {
        return del(nv, find(nv, true, sys, item, sub));
}

size_t sim_nv_ext_count(const SimNv *nv, uint8_t sys, uint16_t item) {
        size_t n = 0;
        while (n <= 0xFFFF && find(nv, true, sys, item, (uint16_t) n))
                n++;
        return n;
}

bool sim_nv_dirty(const SimNv *nv) {
        return nv->dirty;
}

void sim_nv_clear_dirty(SimNv *nv) {
        nv->dirty = false;
}

static int item_cmp(const void *a, const void *b) {
        const Item *x = a, *y = b;
        if (x->ext != y->ext)
                return x->ext - y->ext;
        if (x->sys != y->sys)
                return x->sys - y->sys;
        if (x->id != y->id)
                return x->id - y->id;
        return x->sub - y->sub;
}

int sim_nv_save(const SimNv *nv, const char *path) {
        size_t plen = strlen(path);
        char *tmp = malloc(plen + 8);
        if (!tmp)
                return -ENOMEM;
        snprintf(tmp, plen + 8, "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        if (!f) {
                int r = -errno;
                free(tmp);
                return r;
        }
        Item *sorted = malloc((nv->n ? nv->n : 1) * sizeof(Item));
        if (!sorted) {
                fclose(f);
                unlink(tmp);
                free(tmp);
                return -ENOMEM;
        }
        memcpy(sorted, nv->items, nv->n * sizeof(Item));
        qsort(sorted, nv->n, sizeof(Item), item_cmp);
        fprintf(f, "# lumiplug-sim NV memory (Z-Stack 3.x.0, aligned structs)\n");
        for (size_t i = 0; i < nv->n; i++) {
                const Item *it = &sorted[i];
                if (it->ext)
                        fprintf(f, "ext %02x %04x %04x ", it->sys, it->id, it->sub);
                else
                        fprintf(f, "osal %04x ", it->id);
                for (size_t k = 0; k < it->len; k++)
                        fprintf(f, "%02x", it->data[k]);
                if (it->len == 0)
                        fputc('-', f);
                fputc('\n', f);
        }
        free(sorted);
        int r = 0;
        if (fflush(f) != 0 || ferror(f))
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        free(tmp);
        return r;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int parse_hex(const char *s, uint8_t **ret, size_t *ret_len) {
        size_t n = strlen(s);
        if (n == 1 && s[0] == '-') {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if (n % 2 != 0 || n / 2 > 0xFFFF)
                return -EBADMSG;
        uint8_t *b = malloc(n / 2 + 1);
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        free(b);
                        return -EBADMSG;
                }
                b[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = b;
        *ret_len = n / 2;
        return 0;
}

int sim_nv_load(SimNv *nv, const char *path, unsigned *bad_line) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        int r = 0;
        while (getline(&line, &cap, f) >= 0) {
                lineno++;
                line[strcspn(line, "\r\n")] = 0;
                if (line[0] == '#' || line[0] == 0)
                        continue;
                char kind[8], hex[140000];
                unsigned sys = 0, id = 0, sub = 0;
                uint8_t *data = NULL;
                size_t len = 0;
                if (strlen(line) >= sizeof(hex) - 32) {
                        r = -EBADMSG;
                        break;
                }
                if (sscanf(line, "%7s", kind) != 1) {
                        r = -EBADMSG;
                        break;
                }
                bool ext = strcmp(kind, "ext") == 0;
                if (ext) {
                        if (sscanf(line, "ext %x %x %x %139999s", &sys, &id, &sub, hex) != 4 ||
                            sys > 0xFF || id > 0xFFFF || sub > 0xFFFF) {
                                r = -EBADMSG;
                                break;
                        }
                } else if (strcmp(kind, "osal") == 0) {
                        if (sscanf(line, "osal %x %139999s", &id, hex) != 2 || id > 0xFFFF) {
                                r = -EBADMSG;
                                break;
                        }
                } else {
                        r = -EBADMSG;
                        break;
                }
                r = parse_hex(hex, &data, &len);
                if (r < 0)
                        break;
                r = put(nv, ext, (uint8_t) sys, (uint16_t) id, (uint16_t) sub, data, len);
                free(data);
                if (r < 0)
                        break;
        }
        free(line);
        fclose(f);
        if (r < 0 && bad_line)
                *bad_line = lineno;
        nv->dirty = false;
        return r;
}
