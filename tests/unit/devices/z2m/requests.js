/*
 * Run zigbee-herdsman-converters 26.105.0's toZigbee converters for ZNCZ04LM on the requests of
 * requests.json, as Zigbee2MQTT's publish extension does (payload parsing, converter per key), and
 * record the Zigbee calls they make (command / write / read with cluster, attributes, types,
 * options) and the optimistic state. Output kept as z2m-requests.json; not run by the test suite.
 *
 *   NODE_PATH=/tmp/z2mi/node_modules node requests.js requests.json z2m-requests.json
 */
const fs = require('fs');
const zhc = require('zigbee-herdsman-converters');

const STATE_VALUES = ['on', 'off', 'toggle', 'open', 'close', 'stop', 'lock', 'unlock'];

function parse(r) {
  if (r.attribute) {
    try { return { [r.attribute]: JSON.parse(r.payload) }; } catch { return { [r.attribute]: r.payload }; }
  }
  try { return JSON.parse(r.payload); } catch { return STATE_VALUES.includes(r.payload.toLowerCase()) ? { state: r.payload } : undefined; }
}

(async () => {
  const reqs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const mkEp = (ID, inputClusters, calls) => ({
    ID, supportsInputCluster: (c) => inputClusters.includes(c),
    command: async (cluster, command, payload, options) => calls.push({ ep: ID, op: 'command', cluster, command, payload, options: options || {} }),
    write: async (cluster, attrs, options) => calls.push({ ep: ID, op: 'write', cluster, attrs, options: options || {} }),
    read: async (cluster, attrs, options) => calls.push({ ep: ID, op: 'read', cluster, attrs, options: options || {} }),
  });
  const zh = { ieeeAddr: '0x00158d0001a2b3c4', type: 'Router', modelID: 'lumi.plug.mmeu01', manufacturerName: 'LUMI',
               endpoints: [], customClusters: {}, meta: {}, save() {}, addCustomCluster() {}, getEndpoint() {} };
  const definition = await zhc.findByDevice(zh);
  const out = [];
  for (const r of reqs) {
    const calls = [];
    const eps = [mkEp(1, ['genBasic', 'genOnOff', 'manuSpecificLumi'], calls), mkEp(21, ['genAnalogInput'], calls)];
    zh.endpoints = eps;
    const message = parse(r);
    const result = { request: r, calls, state: {}, errors: [] };
    for (const [key, value] of Object.entries(message || {})) {
      const converter = definition.toZigbee.find((c) => !c.key || c.key.includes(key));
      const meta = { endpoint_name: undefined, options: {}, message: { ...message }, device: zh, state: r.state || {},
                     mapped: definition, publish: () => {} };
      try {
        if (r.type === 'set' && converter?.convertSet) {
          const res = await converter.convertSet(eps[0], key, value, meta);
          Object.assign(result.state, res?.state || {});
        } else if (r.type === 'get' && converter?.convertGet) {
          await converter.convertGet(eps[0], key, meta);
        } else {
          result.errors.push(`no converter for '${r.type}' '${key}'`);
        }
      } catch (e) {
        result.errors.push(`${key}: ${e.message}`);
      }
    }
    out.push(result);
  }
  fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
