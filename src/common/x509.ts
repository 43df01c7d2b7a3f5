// The single door to @peculiar/x509: its decorators need reflect-metadata loaded before the library
// itself, and it needs a WebCrypto provider set once. ESM evaluates these imports in order.
import 'reflect-metadata';
import { cryptoProvider } from '@peculiar/x509';

cryptoProvider.set(globalThis.crypto);

export {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  Pkcs10CertificateRequest,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
export type { JsonName } from '@peculiar/x509';
