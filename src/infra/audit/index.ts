// Public surface of the audit log: append rows, verify the chains.
export { appendAudit, appendAudits, chainOf, AuditError, AUDIT_OUTCOMES, type AuditEntry, type AuditOutcome } from './append.js';
export { verifyAuditLog, formatVerifyReport, type BreakReason, type BrokenRow, type ChainReport, type VerifyReport } from './verify.js';
export { canonicalJson, genesisHash, isoMicros, rowHash, type AuditRowText } from './canonical.js';
export { SYSTEM_CHAIN } from '../db/schema/audit.js';
