/*
 * Fuzz target: the Lumi TLV blob a plug reports in 0xFCC0/0x00F7 (and older firmware in Basic
 * 0xFF01), src/zigbee/lumi.h. Both flavours decode every input, with room for every record and with
 * room for only a few (the -ENOBUFS path); then the blob is applied to the ZNCZ04LM state as the
 * daemon does, and the state is published as JSON.
 */
#include <errno.h>

#include "devices/plug.h"
#include "fuzz.h"
#include "zigbee/lumi.h"

static void decode(LumiTlvFlavor flavor, const uint8_t *data, size_t size, size_t max) {
        LumiTlv tlv[LUMI_TLV_MAX];
        size_t n = SIZE_MAX;
        int r;

        r = lumi_tlv_decode(flavor, data, size, tlv, max, &n);
        FUZZ_CHECK(r == 0 || r == LUMI_TLV_STOPPED || r == -EBADMSG || r == -ENOBUFS);
        if (r == -EBADMSG)
                return;
        FUZZ_CHECK(n <= max);
        for (size_t i = 0; i < n; i++) {
                double d;

                if (!tlv[i].has_value)
                        continue;
                /* numeric kinds only */
                FUZZ_CHECK(tlv[i].value.kind == ZCL_KIND_BOOL || tlv[i].value.kind == ZCL_KIND_UINT ||
                           tlv[i].value.kind == ZCL_KIND_INT || tlv[i].value.kind == ZCL_KIND_FLOAT);
                (void) zcl_value_to_double(&tlv[i].value, &d);
        }
}

static void apply(const uint8_t *data, size_t size, bool ff01) {
        PlugState s = {};
        PlugOptions o = { .state_action = ff01 };
        PlugUpdate u = {};
        json_object *j;

        (void) plug_state_apply_tlv(&s, &plug_model_zncz04lm, &o, data, size, ff01, &u);
        j = plug_state_to_json(&s, &plug_model_zncz04lm, !ff01, &u);
        FUZZ_CHECK(j);
        FUZZ_CHECK(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* the blob is one octet/character string: at most 254 bytes */
        if (size > 300)
                return 0;

        decode(LUMI_TLV_F7, data, size, LUMI_TLV_MAX);
        decode(LUMI_TLV_F7, data, size, 3);
        decode(LUMI_TLV_FF01, data, size, LUMI_TLV_MAX);
        decode(LUMI_TLV_FF01, data, size, 3);
        apply(data, size, false);
        apply(data, size, true);
        return 0;
}
