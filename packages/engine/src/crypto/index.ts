export { createAgeDecryptStream, createAgeEncryptStream, generateIdentity } from './age.js';
export { checkBackupKeys, generateWorkerKey, Keyring, parseWorkerKey, withBackup } from './keys.js';
