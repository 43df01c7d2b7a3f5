import { createHash, randomFillSync, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
} from '../common/x509.ts';
import { JOIN_BINDING_EXTENSION_OID, ROLES_EXTENSION_OID } from '../protocol/index.ts';
import type { CertificateAuthority } from './ca.ts';

/**
 * The workload leaf's fast encoder (DESIGN §4). A TBSCertificate is a template: what is the same in every
 * leaf of a CA (version, signature algorithm, issuer, the fixed extensions, the AKI) is encoded once, by
 * @peculiar/x509 itself, and kept as parsed asn1js blocks; what differs (serial, validity, subject, key,
 * SAN, SKI, roles, join binding) is encoded by asn1js per leaf, which also writes every length. The
 * result is byte for byte the TBSCertificate @peculiar/x509's generator makes from the same inputs
 * (test/unit/auth/leaf-der.test.ts checks that on random inputs, and openssl verifies the certificates),
 * at a small fraction of its CPU: the generator re-parses every extension and name through its schema
 * engine, serializes, signs on the thread pool and re-parses the whole certificate.
 */

/** What differs between two leaves of one CA. */
export interface LeafFields {
  /** 16 random bytes; made positive and minimal here (RFC 5280 §4.1.2.2). */
  serialSeed: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  commonName: string;
  organization: string;
  organizationalUnits: readonly string[];
  /** The subject key: its DER SubjectPublicKeyInfo and the subjectPublicKey bits in it (from the CSR). */
  spki: Uint8Array;
  subjectPublicKey: Uint8Array;
  /** RSA keys also get keyEncipherment (TLS 1.2 RSA key exchange). */
  keyEncipherment: boolean;
  spiffeId: string;
  /** DER values of the roles and join binding extensions. */
  rolesValue: ArrayBuffer;
  bindingValue: ArrayBuffer;
}

/** A signed leaf: its DER, PEM (as X509Certificate.toString('pem') writes it), serial in hex and validity. */
export class IssuedLeaf {
  readonly der: Uint8Array<ArrayBuffer>;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  constructor(der: Uint8Array<ArrayBuffer>, serialNumber: string, validity: { notBefore: Date; notAfter: Date }) {
    this.der = der;
    this.serialNumber = serialNumber;
    this.notBefore = validity.notBefore;
    this.notAfter = validity.notAfter;
  }

  toString(_format: 'pem' = 'pem'): string {
    return PemConverter.encode(this.der.slice().buffer, 'CERTIFICATE');
  }
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
// @peculiar/x509's Name writes these as PrintableString, anything else as UTF8String.
const PRINTABLE = /^[A-Za-z0-9 '()+,-./:=?]*$/;
// @peculiar/x509's Name reads these as escapes, quotes or hex: a name holding them is not encoded here.
const REINTERPRETED = /["\\]|^#/;

/**
 * DER made once (or by node:crypto) placed as it is inside a block asn1js encodes: asn1js's own RawData
 * returns its bytes but does not write them into an enclosing block's writer, which this does. asn1js
 * still writes the length of every block around it.
 */
class Der extends asn1js.RawData {
  override toBER(sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    const data = super.toBER(sizeOnly);
    if (writer === undefined) return data;
    writer.write(data);
    return new ArrayBuffer(0);
  }
}
const der = (data: ArrayBuffer | Uint8Array) => new Der({ data }) as unknown as asn1js.AsnType;

// Encoded once and shared by every leaf.
const oid = (value: string) => new asn1js.ObjectIdentifier({ value });
const oidDer = (value: string) => der(oid(value).toBER());
const OIDS = {
  commonName: oidDer('2.5.4.3'),
  organization: oidDer('2.5.4.10'),
  organizationalUnit: oidDer('2.5.4.11'),
  subjectAltName: oidDer('2.5.29.17'),
  subjectKeyIdentifier: oidDer('2.5.29.14'),
  roles: oidDer(ROLES_EXTENSION_OID),
  joinBinding: oidDer(JOIN_BINDING_EXTENSION_OID),
};
const FIXED = {
  version: der(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }).toBER()),
  signature: der(new asn1js.Sequence({ value: [oid(ECDSA_WITH_SHA256)] }).toBER()),
  basicConstraints: der(new BasicConstraintsExtension(false, undefined, true).rawData),
  keyUsage: der(new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true).rawData),
  keyUsageRsa: der(new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true).rawData),
  extendedKeyUsage: der(new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth], false).rawData),
};

/** What a CA puts in every leaf: its subject as the issuer, and its AuthorityKeyIdentifier. */
interface CaTemplate {
  issuer: asn1js.AsnType;
  authorityKeyIdentifier: asn1js.AsnType;
}
const templates = new WeakMap<CertificateAuthority, CaTemplate>();

function templateOf(ca: CertificateAuthority): CaTemplate {
  let t = templates.get(ca);
  if (t === undefined) {
    // The issuer as @peculiar/x509 writes `ca.cert.subjectName`: for the CAs kube-join makes, the CA's own bytes.
    t = { issuer: der(ca.cert.subjectName.toArrayBuffer()), authorityKeyIdentifier: der(ca.authorityKeyIdentifier.rawData) };
    templates.set(ca, t);
  }
  return t;
}

/** Positive, minimal INTEGER content from 16 random bytes: top bit clear, top byte non-zero. */
function serialOf(seed: Uint8Array): Uint8Array {
  if (seed.length !== 16) throw new Error('leaf serial: 16 random bytes expected');
  const serial = Uint8Array.from(seed);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  return serial;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
function time(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return whole.getUTCFullYear() > 2049 ? new asn1js.GeneralizedTime({ valueDate: whole }) : new asn1js.UTCTime({ valueDate: whole });
}

function rdn(type: asn1js.AsnType, value: string): asn1js.Set {
  if (REINTERPRETED.test(value)) throw new Error(`leaf subject: ${JSON.stringify(value)} holds a character @peculiar/x509 would reinterpret`);
  const text = PRINTABLE.test(value) ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value });
  return new asn1js.Set({ value: [new asn1js.Sequence({ value: [type, text] })] });
}

/** A non-critical extension (critical DEFAULT FALSE is left out, as DER requires). */
function extension(type: asn1js.AsnType, value: ArrayBuffer): asn1js.Sequence {
  return new asn1js.Sequence({ value: [type, new asn1js.OctetString({ valueHex: value })] });
}

/** SubjectAltName with the one URI (GeneralName uniformResourceIdentifier: [6] IA5String). */
function uriSan(uri: string): asn1js.Sequence {
  const names = new asn1js.Sequence({ value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 6 }, valueHex: Buffer.from(uri, 'latin1') })] });
  return extension(OIDS.subjectAltName, names.toBER());
}

/** The DER TBSCertificate of a leaf of `ca`. */
export function encodeLeafTbs(ca: CertificateAuthority, fields: LeafFields): Uint8Array {
  const t = templateOf(ca);
  const tbs = new asn1js.Sequence({
    value: [
      FIXED.version,
      new asn1js.Integer({ valueHex: serialOf(fields.serialSeed) }),
      FIXED.signature,
      t.issuer,
      new asn1js.Sequence({ value: [time(fields.notBefore), time(fields.notAfter)] }),
      new asn1js.Sequence({
        value: [rdn(OIDS.commonName, fields.commonName), rdn(OIDS.organization, fields.organization), ...fields.organizationalUnits.map((ou) => rdn(OIDS.organizationalUnit, ou))],
      }),
      der(fields.spki),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 3 },
        value: [
          new asn1js.Sequence({
            value: [
              FIXED.basicConstraints,
              fields.keyEncipherment ? FIXED.keyUsageRsa : FIXED.keyUsage,
              FIXED.extendedKeyUsage,
              uriSan(fields.spiffeId),
              // RFC 5280 §4.2.1.2 method (1), as @peculiar/x509 computes it: SHA-1 of the subjectPublicKey bits.
              extension(OIDS.subjectKeyIdentifier, new asn1js.OctetString({ valueHex: createHash('sha1').update(fields.subjectPublicKey).digest() }).toBER()),
              t.authorityKeyIdentifier,
              extension(OIDS.roles, fields.rolesValue),
              extension(OIDS.joinBinding, fields.bindingValue),
            ],
          }),
        ],
      }),
    ],
  });
  return new Uint8Array(tbs.toBER());
}

/** Signs a leaf of `ca` (ECDSA P-256 / SHA-256 through node:crypto, DER signature as X.509 wants it). */
export function signLeaf(ca: CertificateAuthority, fields: LeafFields): IssuedLeaf {
  const tbsDer = encodeLeafTbs(ca, fields);
  const signature = sign('sha256', tbsDer, { key: ca.signingKey, dsaEncoding: 'der' });
  const cert = new asn1js.Sequence({ value: [der(tbsDer), FIXED.signature, new asn1js.BitString({ valueHex: signature })] });
  // The certificate holds its times to the second.
  const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
  return new IssuedLeaf(new Uint8Array(cert.toBER()), Buffer.from(serialOf(fields.serialSeed)).toString('hex'), { notBefore: seconds(fields.notBefore), notAfter: seconds(fields.notAfter) });
}

/** 16 fresh random bytes for a leaf serial. */
export function randomSerialSeed(): Uint8Array {
  return randomFillSync(new Uint8Array(16));
}
