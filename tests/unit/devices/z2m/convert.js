/*
 * Run zigbee-herdsman 10.9.2's ZCL parser and zigbee-herdsman-converters 26.105.0's ZNCZ04LM
 * converters (the versions zigbee2mqtt 2.14.1 pins) on the frames of cases.json, the way
 * Zigbee2MQTT's receive extension does (converters of the cluster/type, merged, then
 * postProcessConvertedFromZigbeeMessage with the device options). Prints one converted payload
 * per case. Not run by the test suite (needs npm); its output is kept as z2m-output.json.
 *
 *   (cd /tmp/z2mi && npm install --ignore-scripts zigbee2mqtt@2.14.1)
 *   NODE_PATH=/tmp/z2mi/node_modules node convert.js cases.json z2m-output.json
 */
const fs = require('fs');
const { Zcl } = require('zigbee-herdsman');
const conv = require('zigbee-herdsman/dist/controller/helpers/zclFrameConverter');
const zhc = require('zigbee-herdsman-converters');

(async () => {
  const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const zh = { ieeeAddr: '0x00158d0001a2b3c4', type: 'Router', modelID: 'lumi.plug.mmeu01', manufacturerName: 'LUMI',
               endpoints: [], customClusters: {}, meta: {}, save() {}, addCustomCluster() {},
               getEndpoint() { return undefined; } };
  const definition = await zhc.findByDevice(zh);
  const customClusters = { manuSpecificLumi: { name: "manuSpecificLumi", ID: 0xfcc0, manufacturerCode: 0x115f, attributes: {}, commands: {}, commandsResponse: {} } };
  const out = [];
  for (const c of cases) {
    const buf = Buffer.from(c.frame.replace(/ /g, ''), 'hex');
    const frame = Zcl.Frame.fromBuffer(c.cluster, Zcl.Header.fromBuffer(buf), buf, customClusters);
    const type = frame.command.name === 'report' ? 'attributeReport' : 'readResponse';
    const data = conv.attributeKeyValue(frame, 0x115f, customClusters);
    const options = c.options || {};
    const msg = { data, endpoint: { ID: c.endpoint }, device: zh, type, cluster: frame.cluster.name, linkquality: 100,
                  meta: { zclTransactionSequenceNumber: frame.header.transactionSequenceNumber, manufacturerCode: 0x115f, frameControl: frame.header.frameControl } };
    const meta = { device: zh, state: {}, logger: console, deviceExposesChanged: () => {} };
    let payload = {};
    for (const fz of definition.fromZigbee.filter((f) => f.cluster === frame.cluster.name && [].concat(f.type).includes(type))) {
      const r = await fz.convert(definition, msg, () => {}, options, meta);
      if (r) payload = { ...payload, ...r };
    }
    zhc.postProcessConvertedFromZigbeeMessage(definition, payload, options, zh);
    out.push({ name: c.name, payload });
  }
  fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
