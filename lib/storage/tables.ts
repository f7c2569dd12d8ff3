/** Storage tables (kysely types), filled in by lib/storage. */
export interface StorageTables {}
