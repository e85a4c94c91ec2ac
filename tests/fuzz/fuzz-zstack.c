/*
 * Fuzz target: the coordinator answers the start-up decodes on its own (src/znp/zstack.h):
 * SYS_VERSION's SRSP, UTIL_GET_DEVICE_INFO's SRSP and the NIB NV item. Every input goes to all
 * three (as frame DATA for the first two, as the raw NV item for the NIB), since a stick can send
 * any bytes in any of them.
 */
#include "fuzz.h"
#include "znp/mt-frame.h"
#include "znp/zstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ZstackVersion v;
        ZstackNib nib;
        uint64_t ieee;
        uint16_t nwk;
        uint8_t state;
        MtFrame f;

        if (zstack_parse_nib(data, size, &nib) == 0) {
                FUZZ_CHECK(size == 110 || size == 116);
                FUZZ_CHECK(nib.aligned == (size == 116));
        }

        if (size > MT_DATA_MAX)
                return 0;

        FUZZ_CHECK(mt_frame_init(&f, MT_SRSP, MT_SUBSYS_SYS, 0x02, data, size) == 0);
        if (zstack_parse_version(&f, &v) == 0)
                FUZZ_CHECK(zstack_product_name(v.product_id) != NULL || v.product_id > 2);

        FUZZ_CHECK(mt_frame_init(&f, MT_SRSP, MT_SUBSYS_UTIL, 0x00, data, size) == 0);
        (void) zstack_parse_device_info(&f, &ieee, &nwk, &state);
        (void) zstack_parse_device_info(&f, NULL, NULL, NULL);
        return 0;
}
