export { createTokenIssuer } from './issuer.ts';
export type { TokenIssuer, MintOptions, PodBinding } from './issuer.ts';
