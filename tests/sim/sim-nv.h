/*
 * Non-volatile memory of the simulated coordinator: the legacy OSAL items (16-bit id) and the
 * Z-Stack 3.x.0 extended items (system id, item id, sub id). It knows nothing of MT; the
 * coordinator maps requests and firmware status codes onto it. Kept in a text file, one item per
 * line ("osal 0021 <hex>", "ext 01 0001 0045 <hex>"), so a second start sees the formed network.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SimNv SimNv;

SimNv *sim_nv_new(void);
SimNv *sim_nv_free(SimNv *nv);

/* Legacy OSAL items. get returns NULL when the item does not exist. */
const uint8_t *sim_nv_get(const SimNv *nv, uint16_t id, size_t *len);
uint8_t *sim_nv_get_mut(SimNv *nv, uint16_t id, size_t *len);
int sim_nv_set(SimNv *nv, uint16_t id, const uint8_t *data, size_t len);
/* Creates the item (len bytes, the first init_len taken from init, the rest zero): returns 1 when
 * created, 0 when it already existed, negative errno on failure. */
int sim_nv_init_item(SimNv *nv, uint16_t id, size_t len, const uint8_t *init, size_t init_len);
/* -ENOENT missing, -ERANGE when offset + len runs past the item. */
int sim_nv_write(SimNv *nv, uint16_t id, size_t offset, const uint8_t *data, size_t len);
int sim_nv_delete(SimNv *nv, uint16_t id);

/* Extended items. */
const uint8_t *sim_nv_ext_get(const SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, size_t *len);
uint8_t *sim_nv_ext_get_mut(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, size_t *len);
int sim_nv_ext_set(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub, const uint8_t *data, size_t len);
int sim_nv_ext_delete(SimNv *nv, uint8_t sys, uint16_t item, uint16_t sub);
/* Number of consecutive sub ids 0.. that exist for this table. */
size_t sim_nv_ext_count(const SimNv *nv, uint8_t sys, uint16_t item);

bool sim_nv_dirty(const SimNv *nv);
void sim_nv_clear_dirty(SimNv *nv);

/* Writes atomically (temporary file + rename). */
int sim_nv_save(const SimNv *nv, const char *path);
/* Loads a file written by sim_nv_save; -ENOENT when it does not exist, -EBADMSG (with the line
 * number in *bad_line) on a malformed line. */
int sim_nv_load(SimNv *nv, const char *path, unsigned *bad_line);
