import * as asn1js from 'asn1js';

/** What a renewal needs from the workload leaf it presents. */
export interface LeafFields {
  commonName: string | undefined;
  /** The URI SANs (GeneralName uniformResourceIdentifier). */
  uris: string[];
  /** extnValue (the DER inside the OCTET STRING) of each extension, by OID. */
  extensions: Map<string, ArrayBuffer>;
}

const COMMON_NAME = '2.5.4.3';
const SUBJECT_ALT_NAME = '2.5.29.17';
const URI_TAG = 6;

const children = (block: unknown): asn1js.AsnType[] => (block instanceof asn1js.Sequence || block instanceof asn1js.Set || block instanceof asn1js.Constructed ? block.valueBlock.value : []);
const oidOf = (block: unknown): string | undefined => (block instanceof asn1js.ObjectIdentifier ? block.valueBlock.toString() : undefined);
const textOf = (block: unknown): string | undefined => (block instanceof asn1js.BaseStringBlock ? block.valueBlock.value : undefined);

/**
 * Reads subject CN, URI SANs and extension values of a certificate TLS has already verified, with
 * asn1js alone: @peculiar/x509's X509Certificate parses every field through its schema engine, which
 * cost a renewal about as much CPU as the rest of it. Throws on anything that is not a certificate.
 */
export function readLeafFields(der: Uint8Array): LeafFields {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1) throw new Error(`not DER: ${parsed.result.error}`);
  const tbs = children(parsed.result)[0];
  // version [0] is present in every v3 certificate: subject is then the 6th field, extensions [3] the last.
  const fields = children(tbs);
  if (!(fields[0] instanceof asn1js.Constructed) || fields[0].idBlock.tagClass !== 3 || fields[0].idBlock.tagNumber !== 0) throw new Error('not a v3 certificate');
  let commonName: string | undefined;
  for (const rdn of children(fields[5])) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute);
      if (oidOf(type) === COMMON_NAME) commonName ??= textOf(value);
    }
  }
  const extensions = new Map<string, ArrayBuffer>();
  const tagged = fields.find((f) => f instanceof asn1js.Constructed && f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 3);
  for (const extension of children(children(tagged)[0])) {
    const parts = children(extension);
    const oid = oidOf(parts[0]);
    const value = parts[parts.length - 1];
    if (oid !== undefined && value instanceof asn1js.OctetString) extensions.set(oid, value.valueBlock.valueHexView.slice().buffer);
  }
  const uris: string[] = [];
  const san = extensions.get(SUBJECT_ALT_NAME);
  if (san !== undefined) {
    for (const name of children(asn1js.fromBER(san).result)) {
      if (name.idBlock.tagClass === 3 && name.idBlock.tagNumber === URI_TAG && name instanceof asn1js.Primitive) uris.push(Buffer.from(name.valueBlock.valueHexView).toString('latin1'));
    }
  }
  return { commonName, uris, extensions };
}
