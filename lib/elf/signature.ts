// The signature appended to a module file (linux/include/linux/module_signature.h, scripts/sign-file.c):
//   [module][signer][key id][signature][struct module_signature, 12 B]["~Module signature appended~\n"]
// struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len, __pad[3]; __be32 sig_len; }.
// For PKCS#7 (id_type 2, the only type the kernel accepts) the other length fields are 0 and signer, key
// and digest come from the PKCS#7 blob; the legacy types carry them raw. Checks follow kmod's
// kmod_module_signature_info: a trailer it would not show is an error here (or a warning when lenient).
import { invalidInput, type KernmodError } from '../errors.js';
import { copyBytes } from './der.js';
import { parsePkcs7 } from './pkcs7.js';
import { LINUX_ERRNO } from '../errno.js';

const SIGNATURE_MAGIC = '~Module signature appended~\n';
const MAGIC_BYTES = Buffer.from(SIGNATURE_MAGIC, 'latin1');
const MODSIG_SIZE = 12;

/** kmod's pkey_algo / pkey_hash_algo / pkey_id_type tables, indexed by the trailer's bytes. */
const PKEY_ALGO = ['DSA', 'RSA'] as const;
const PKEY_HASH = ['md4', 'md5', 'sha1', 'rmd160', 'sha256', 'sha384', 'sha512', 'sha224', 'sm3'] as const;
const PKEY_ID_TYPE = ['PGP', 'X509', 'PKCS#7'] as const;

type SignatureIdType = (typeof PKEY_ID_TYPE)[number];

export interface ModuleSignature {
  /** kmod's `sig_id`: 'PKCS#7' for every signature a current kernel accepts. */
  id: SignatureIdType;
  /** kmod's `signer`: the issuer commonName of the signing certificate. */
  signer: string;
  /** kmod's `sig_key`: the certificate's serial number (PKCS#7) or the raw key id (legacy types). */
  keyId: Uint8Array;
  /** kmod's `sig_hashalgo`: 'sha256', 'sha512' … */
  hashAlgo: string;
  /** kmod's `signature`: the signature bytes (PKCS#7 encryptedDigest). */
  signature: Uint8Array;
  /** Legacy trailers only: the public-key algorithm byte ('RSA'). */
  algo?: string;
  /** PKCS#7 only: whether keyId is the issuer serial or a subjectKeyIdentifier (sign-file -k). */
  keyIdType?: 'issuer-serial' | 'subject-key-identifier';
  /** Bytes of the file covered by the signature: everything before the signer/key/signature data. */
  signedLength: number;
}

function bad(reason: string): KernmodError {
  return invalidInput('ERR_KERNMOD_BAD_SIGNATURE', `malformed module signature: ${reason}`, { errno: -LINUX_ERRNO.EBADMSG });
}

/** True when the bytes end with the signature magic. */
export function hasSignatureTrailer(b: Uint8Array): boolean {
  return b.length >= MAGIC_BYTES.length && MAGIC_BYTES.equals(b.subarray(b.length - MAGIC_BYTES.length));
}

/**
 * The module signature, or undefined when the file is not signed. Throws ERR_KERNMOD_BAD_SIGNATURE when
 * the trailer is there but unusable (kmod then shows no signature fields).
 */
export function readSignature(b: Uint8Array): ModuleSignature | undefined {
  if (!hasSignatureTrailer(b)) return undefined;
  let size = b.length - MAGIC_BYTES.length;
  if (size < MODSIG_SIZE) throw bad('file too short for struct module_signature');
  size -= MODSIG_SIZE;
  const algo = b[size]!;
  const hash = b[size + 1]!;
  const idType = b[size + 2]!;
  const signerLen = b[size + 3]!;
  const keyIdLen = b[size + 4]!;
  const sigLen = ((b[size + 8]! << 24) | (b[size + 9]! << 16) | (b[size + 10]! << 8) | b[size + 11]!) >>> 0;
  if (algo >= PKEY_ALGO.length) throw bad(`unknown public-key algorithm ${algo}`);
  if (hash >= PKEY_HASH.length) throw bad(`unknown hash algorithm ${hash}`);
  if (idType >= PKEY_ID_TYPE.length) throw bad(`unknown signature type ${idType}`);
  if (sigLen === 0) throw bad('sig_len is 0');
  if (size < signerLen + keyIdLen + sigLen) throw bad(`sig_len ${sigLen} (plus signer and key id) is larger than the file`);
  const sigStart = size - sigLen;
  const sig = b.subarray(sigStart, size);
  const id = PKEY_ID_TYPE[idType]!;
  if (id === 'PKCS#7') {
    // kmod hands exactly these bytes to OpenSSL; the signer/key-id lengths are 0 for PKCS#7.
    const info = parsePkcs7(sig);
    return {
      id,
      signer: info.signer,
      keyId: info.keyId,
      hashAlgo: info.hashAlgo,
      signature: info.signature,
      keyIdType: info.keyIdType,
      signedLength: sigStart - keyIdLen - signerLen,
    };
  }
  const keyStart = sigStart - keyIdLen;
  const signerStart = keyStart - signerLen;
  const signerBytes = b.subarray(signerStart, keyStart);
  const nul = signerBytes.indexOf(0);
  return {
    id,
    signer: Buffer.from(signerBytes.buffer, signerBytes.byteOffset, nul === -1 ? signerBytes.length : nul).toString('utf8'),
    keyId: copyBytes(b, keyStart, sigStart),
    hashAlgo: PKEY_HASH[hash]!,
    signature: copyBytes(b, sigStart, size),
    algo: PKEY_ALGO[algo]!,
    signedLength: signerStart,
  };
}
