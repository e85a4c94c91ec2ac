/*
 * Fuzz target: AF_INCOMING_MSG, the frame every device message arrives in, from its MT DATA to the
 * plug's state, the way the daemon handles it: af_parse_incoming() (src/znp/af.h) and
 * host_af_parse_incoming() (src/host/af.h) must agree, the ZCL frame they point at must lie inside
 * the input, and it then goes through the ZNCZ04LM conversion and out as state JSON.
 *
 * The input is the DATA of one AF_INCOMING_MSG (the MT header and FCS are the mt-frame target's).
 */
#include <string.h>

#include "devices/plug.h"
#include "fuzz.h"
#include "host/af.h"
#include "znp/af.h"
#include "zigbee/zcl.h"

static void convert(const AfMessage *m) {
        PlugState s = {};
        PlugOptions o = {};
        PlugUpdate u = {};
        json_object *j;

        (void) plug_state_apply_frame(&s, &plug_model_zncz04lm, &o, m->src_endpoint, m->cluster, m->data, m->len,
                                      m->link_quality, &u);
        j = plug_state_to_json(&s, &plug_model_zncz04lm, true, &u);
        FUZZ_CHECK(j);
        FUZZ_CHECK(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HostAfIncoming h;
        AfMessage m;
        MtFrame f;
        int r, rh;

        rh = host_af_parse_incoming(data, size, &h);
        if (rh == 0) {
                FUZZ_CHECK(h.data >= data && h.data + h.len <= data + size);
                FUZZ_CHECK(!h.has_trailer || (size_t) (h.data - data) + h.len + 3 <= size);
        }

        if (size > MT_DATA_MAX)
                return 0;
        FUZZ_CHECK(mt_frame_init(&f, MT_AREQ, MT_SUBSYS_AF, 0x81, data, size) == 0);
        r = af_parse_incoming(&f, &m);
        FUZZ_CHECK((r == 0) == (rh == 0));
        if (r < 0)
                return 0;

        FUZZ_CHECK(m.data >= f.data && m.data + m.len <= f.data + f.len);
        FUZZ_CHECK(m.group == h.group && m.cluster == h.cluster && m.src_addr == h.src_addr);
        FUZZ_CHECK(m.src_endpoint == h.src_endpoint && m.dst_endpoint == h.dst_endpoint);
        FUZZ_CHECK(m.link_quality == h.lqi && m.len == h.len && m.trans_seq == h.trans_seq);
        FUZZ_CHECK(memcmp(m.data, h.data, m.len) == 0);

        convert(&m);
        return 0;
}
