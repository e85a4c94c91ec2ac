/*
 * Capture what the real Zigbee2MQTT 2.14.1 Home Assistant extension publishes for a ZNCZ04LM and
 * the bridge, by running its own code (dist/extension/homeassistant.js, dist/model/device.js and
 * zigbee-herdsman-converters 26.105.0) on a stub device, without radio or broker. Not run by the
 * test suite (it needs npm); its output is kept in this directory and compared by
 * test-discovery-golden.py.
 *
 *   mkdir /tmp/z2mi && cd /tmp/z2mi && npm install --ignore-scripts zigbee2mqtt@2.14.1
 *   Z2M=/tmp/z2mi/node_modules/zigbee2mqtt CONFIG=plug1.yaml OUT=plug1+bridge.json node capture.js
 *   Z2M=... CONFIG=availability.yaml OUT=availability+bridge.json node capture.js
 */
const fs = require('fs');
const os = require('os');
const path = require('path');

const data = fs.mkdtempSync(path.join(os.tmpdir(), 'z2m-capture-'));
fs.copyFileSync(path.resolve(process.env.CONFIG), path.join(data, 'configuration.yaml'));
process.env.ZIGBEE2MQTT_DATA = data;

const Z = path.join(process.env.Z2M, 'dist');
const HA = require(Z + '/extension/homeassistant').default;
const Device = require(Z + '/model/device').default;
const { InterviewState } = require(path.join(process.env.Z2M, '..', 'zigbee-herdsman/dist/controller/model/device'));
require(Z + '/util/utils').default.getScenes = () => [];   /* the stub endpoints carry no scenes */

(async () => {
  const ep = (id, inputClusters) => ({ ID: id, inputClusters, outputClusters: [], deviceIeeeAddress: '0x00158d0001a2b3c4',
                                       supportsInputCluster: () => false, getClusterAttributeValue: () => undefined });
  const zh = {
    ieeeAddr: '0x00158d0001a2b3c4', type: 'Router', modelID: 'lumi.plug.mmeu01', manufacturerName: 'LUMI',
    softwareBuildID: '09-06-2019', hardwareVersion: 1, interviewState: InterviewState.Successful,
    endpoints: [ep(1, [0, 2, 3, 4, 5, 6, 0xfcc0]), ep(21, [0x000c])], customClusters: {}, meta: {},
    getEndpoint(id) { return this.endpoints.find((e) => e.ID === id); }, save() {}, addCustomCluster() {},
  };
  const dev = new Device(zh);
  await dev.resolveDefinition();
  const published = [];
  const mqtt = { publish: async (topic, payload) => published.push({ topic: 'homeassistant/' + topic, payload, retain: true }),
                 subscribe() {}, unsubscribe() {} };
  const zigbee = { firstCoordinatorEndpoint: () => ({ deviceIeeeAddress: '0x00124b00120144ae' }), resolveEntity: () => dev };
  const bus = new Proxy({}, { get: () => () => {} });
  const ha = new HA(zigbee, mqtt, {}, () => {}, bus, () => {}, () => {}, () => {});
  ha.zigbee2MQTTVersion = '2.14.1';
  ha.discoveryOrigin = { name: 'Zigbee2MQTT', sw: '2.14.1', url: 'https://www.zigbee2mqtt.io' };
  ha.bridge = ha.getBridgeEntity({ type: 'z-Stack', meta: { revision: 20190425 } });
  ha.bridgeIdentifier = ha.getDevicePayload(ha.bridge).identifiers[0];
  await ha.discover(ha.bridge);
  await ha.discover(dev);
  fs.writeFileSync(process.env.OUT, JSON.stringify(published, null, 1) + '\n');
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
