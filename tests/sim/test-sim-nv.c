/*
 * NV store of the simulator: item semantics and the file round trip.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim-nv.h"

int main(void) {
        SimNv *nv = sim_nv_new();
        assert(nv);
        size_t len;
        assert(!sim_nv_get(nv, 0x0060, &len) && len == 0);
        uint8_t v = 0x55;
        assert(sim_nv_init_item(nv, 0x0060, 1, &v, 1) == 1);
        assert(sim_nv_init_item(nv, 0x0060, 1, &v, 1) == 0);
        assert(sim_nv_get(nv, 0x0060, &len)[0] == 0x55 && len == 1);
        assert(sim_nv_init_item(nv, 0x0061, 1, &v, 2) == -EINVAL);

        uint8_t key[16];
        for (int i = 0; i < 16; i++)
                key[i] = (uint8_t) i;
        assert(sim_nv_init_item(nv, 0x0062, 16, key, 4) == 1);
        assert(sim_nv_get(nv, 0x0062, NULL)[4] == 0);
        assert(sim_nv_write(nv, 0x0062, 4, key + 4, 12) == 0);
        assert(memcmp(sim_nv_get(nv, 0x0062, NULL), key, 16) == 0);
        assert(sim_nv_write(nv, 0x0062, 10, key, 7) == -ERANGE);
        assert(sim_nv_write(nv, 0x0099, 0, key, 1) == -ENOENT);

        uint8_t e[12];
        memset(e, 0xFF, sizeof(e));
        for (uint16_t i = 0; i < 5; i++)
                assert(sim_nv_ext_set(nv, 1, 0x0001, i, e, sizeof(e)) == 0);
        assert(sim_nv_ext_count(nv, 1, 0x0001) == 5);
        assert(sim_nv_ext_get(nv, 1, 0x0001, 5, &len) == NULL && len == 0);
        assert(sim_nv_ext_delete(nv, 1, 0x0001, 4) == 0);
        assert(sim_nv_ext_count(nv, 1, 0x0001) == 4);
        assert(sim_nv_ext_delete(nv, 1, 0x0001, 4) == -ENOENT);
        assert(sim_nv_delete(nv, 0x0060) == 0);
        assert(sim_nv_delete(nv, 0x0060) == -ENOENT);
        assert(sim_nv_set(nv, 0x0070, NULL, 0) == 0);  /* zero-length items exist */

        char path[] = "/tmp/test-sim-nv-XXXXXX";
        int fd = mkstemp(path);
        assert(fd >= 0);
        close(fd);
        assert(sim_nv_dirty(nv));
        assert(sim_nv_save(nv, path) == 0);
        SimNv *again = sim_nv_new();
        assert(sim_nv_load(again, path, NULL) == 0);
        assert(memcmp(sim_nv_get(again, 0x0062, &len), key, 16) == 0 && len == 16);
        assert(sim_nv_ext_count(again, 1, 0x0001) == 4);
        assert(sim_nv_get(again, 0x0070, &len) && len == 0);
        assert(!sim_nv_dirty(again));

        FILE *f = fopen(path, "w");
        fputs("osal 0001 0011223344556677\nbogus line\n", f);
        fclose(f);
        unsigned bad = 0;
        SimNv *broken = sim_nv_new();
        assert(sim_nv_load(broken, path, &bad) == -EBADMSG && bad == 2);
        f = fopen(path, "w");
        fputs("osal 0001 0g\n", f);
        fclose(f);
        assert(sim_nv_load(broken, path, &bad) == -EBADMSG && bad == 1);
        unlink(path);
        assert(sim_nv_load(broken, path, &bad) == -ENOENT);

        sim_nv_free(broken);
        sim_nv_free(again);
        sim_nv_free(nv);
        puts("test-sim-nv: ok");
        return 0;
}
