/** Capsule tables (kysely types), filled in by lib/capsules. */
export interface CapsuleTables {}
