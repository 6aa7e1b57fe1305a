/** Public surface of src/manifest: read, validate and default a cluster manifest. */
export { loadManifest } from './manifest-load';
export { parseManifest, MANIFEST_MAX_BYTES, type ManifestOptions } from './manifest-parse';
export { MANIFEST_SCHEMA_PATH, MANIFEST_SCHEMA_ID } from './schema-validate';
export { MANIFEST_DEFAULTS, DEFAULT_NFS_ADDRESS, DEFAULT_FALLBACK_ORDER } from './apply-defaults';
export type * from './manifest-types';
