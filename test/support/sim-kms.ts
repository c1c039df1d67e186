// KMS client options that reach a test simulator's KMS with the simulator's default (public, dev-only) credentials.
import type { KmsClientOptions } from '../../src/infra/kms/index.js';
import { loadSimConfig } from '../../src/sim/config.js';

const SIM = loadSimConfig({});
export const SIM_KMS_SECRET = SIM.SIM_KMS_SECRET_ACCESS_KEY;

export function simKmsOptions(kmsUrl: string, overrides: Partial<KmsClientOptions> = {}): KmsClientOptions {
  return {
    endpoint: kmsUrl,
    region: SIM.SIM_KMS_REGION,
    accessKeyId: SIM.SIM_KMS_ACCESS_KEY_ID,
    secretAccessKey: () => SIM_KMS_SECRET,
    timeoutMs: 5_000,
    ...overrides,
  };
}
