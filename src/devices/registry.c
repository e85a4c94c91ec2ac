/*
 * Model registry: Basic modelId -> plug model table.
 */
#include <string.h>

#include "devices/plug.h"
#include "util/macro.h"

static const PlugModel *const plug_models[] = {
        &plug_model_zncz04lm,
};

const PlugModel *plug_model_find(const char *zigbee_model) {
        if (!zigbee_model)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(plug_models); i++)
                if (strcmp(plug_models[i]->zigbee_model, zigbee_model) == 0)
                        return plug_models[i];
        return NULL;
}

const PlugProperty *plug_model_property(const PlugModel *m, const char *name, size_t *ret_index) {
        if (!m || !name)
                return NULL;
        for (size_t i = 0; i < m->n_properties; i++)
                if (strcmp(m->properties[i].name, name) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return &m->properties[i];
                }
        return NULL;
}
