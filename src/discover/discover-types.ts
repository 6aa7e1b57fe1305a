/** What `reroute discover` learned from one ESXi host (parsed from one remote command). */
export interface EsxiFacts {
  /** The address we connected to (becomes node.esxi.address). */
  address: string;
  hostname?: string;
  vmknics: { name: string; ip: string; netmask: string }[];
  /** Datastore names under /vmfs/volumes (symlinks to VMFS UUID folders), name → UUID. */
  datastores: Record<string, string>;
  /** LOCAL_STORAGE_IP / LOCAL_MGMT_IP of an agent already installed on the host, if any. */
  installed?: { storageIp?: string; mgmtIp?: string };
  /** Guest IPs of the VMs registered on this host (vim-cmd; VMware Tools), when available. */
  guestIps: string[];
  /** Session list as fetched from 192.168.33.2 on the host (JSON text), when that worked. */
  sessionsJson?: string;
  /** /32 routes of the host (`esxcfg-route -l`): destination → gateway. RDMA clusters route the NFS
   * address and the local SCVM's storage IP via the SCVM's access IP. Absent from older output. */
  hostRoutes?: { network: string; gateway: string }[];
}

/** One ZBS access point from the meta session list. */
export interface SessionEntry {
  /** Storage IP (`ip`). */
  storageIp: string;
  /** Management IP (`secondary_data_ip`). */
  mgmtIp: string;
}

/** How an ESXi was paired with its SCVM, strongest first. */
export type PairingEvidence = 'operator' | 'installed-agent' | 'vm-inventory' | 'address-offset' | 'address-order';

export interface Pairing {
  esxi: string;
  scvm: SessionEntry;
  evidence: PairingEvidence;
  /** One line for the YAML comment (why, and for guesses how to check). */
  note: string;
}
