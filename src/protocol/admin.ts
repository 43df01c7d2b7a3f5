import { z } from 'zod';
import { AppSpecSchema, IdentitySchema } from './schemas.ts';

/** Admin API paths; every one needs an admin client certificate (mutual TLS). */
export const ADMIN_TOKENS_PATH = '/v1/admin/tokens';
export const ADMIN_INVENTORY_PATH = '/v1/admin/inventory';

/**
 * OID of the extension that marks an admin client certificate. The auth service writes it only into
 * the admin identity it makes for itself; certificates issued to agents never carry it.
 */
export const ADMIN_EXTENSION_OID = '1.3.9999.2.2';

/** One joined agent, as the inventory keeps it and `apps ls` reads it. */
export const AgentRecordSchema = IdentitySchema.omit({ spiffeId: true })
  .extend({
    nodeName: z.string().optional(),
    apps: z.array(AppSpecSchema),
    tokenName: z.string(),
    agentVersion: z.string(),
    firstJoin: z.iso.datetime(),
    lastJoin: z.iso.datetime(),
    notAfter: z.iso.datetime(),
    /** When the entry leaves the inventory: notAfter plus the grace period. */
    expiresAt: z.iso.datetime(),
  })
  .strict();
export type AgentRecord = z.infer<typeof AgentRecordSchema>;

export const InventorySchema = z.object({ agents: z.array(AgentRecordSchema) }).strict();
export type Inventory = z.infer<typeof InventorySchema>;

/** A provision token as `token ls` shows it (the YAML itself comes from GET /v1/admin/tokens/NAME). */
export const TokenSummarySchema = z
  .object({
    name: z.string(),
    type: z.string(),
    roles: z.array(z.string()),
    allow: z.array(z.string()),
    expires: z.iso.datetime(),
    expired: z.boolean(),
  })
  .strict();
export type TokenSummary = z.infer<typeof TokenSummarySchema>;
export const TokenListSchema = z.object({ tokens: z.array(TokenSummarySchema) }).strict();
