/**
 * The cluster manifest for a lab (the shape of examples/cluster-3node.yaml),
 * built as an object and serialised by the same YAML library the product
 * parses it with, so any name or path a lab uses comes out quoted as needed.
 */
import { Document, YAMLMap } from 'yaml';
import { NFS_ADDRESS } from './lab-topology';
import type { LabState } from './lab-state';

export function labManifest(s: LabState, opts: { clusterName?: string } = {}): string {
  const c = s.config;
  const credential = { keyFile: s.operatorKeyPath };
  const doc = new Document(
    {
      apiVersion: 'zbs-reroute/v1',
      kind: 'RerouteCluster',
      metadata: { name: opts.clusterName ?? `lab-${s.name}` },
      spec: {
        nfsAddress: NFS_ADDRESS,
        networks: { storage: `${c.storageNet}.0/24`, management: `${c.mgmtNet}.0/24` },
        access: {
          esxi: { user: 'root', credential },
          scvm: { user: 'smartx', sudo: true, credential },
        },
        nodes: s.nodes.map((node) => ({
          name: node.name,
          esxi: { address: node.esxi.mgmtIp, storageVmk: 'vmk1', storageIp: node.esxi.storageIp, datastore: node.esxi.datastore },
          scvm: {
            managementIp: node.scvm.mgmtIp,
            storageIp: node.scvm.storageIp,
            ...(node.scvm.accessIp !== undefined ? { accessIp: node.scvm.accessIp } : {}),
          },
        })),
      },
    },
    { aliasDuplicateObjects: false },
  );
  // On the top mapping, not the document: a document comment is followed by a blank line.
  if (doc.contents instanceof YAMLMap)
    doc.contents.commentBefore = ` Cluster manifest for lab ${s.name} (npm run lab -- manifest --name ${s.name}).`;
  // One line per credential, as a person writes it in examples/cluster-3node.yaml.
  for (const who of ['esxi', 'scvm']) {
    const cred = doc.getIn(['spec', 'access', who, 'credential']);
    if (cred instanceof YAMLMap) cred.flow = true;
  }
  return doc.toString({ indentSeq: true, lineWidth: 0 });
}
