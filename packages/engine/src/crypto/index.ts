export { createAgeDecryptStream, createAgeEncryptStream, generateIdentity } from './age.js';
export { checkBackupKeys, generateWorkerKey, Keyring, parseWorkerKey, type WorkerKey, withBackup } from './keys.js';
