// The parts of a module's PKCS#7 SignedData that modinfo shows, taken from the first SignerInfo as kmod
// does with OpenSSL (libkmod-signature.c fill_pkcs7): the issuer's commonName (`signer`), the issuer
// serial number (`sig_key`), the digest algorithm (`sig_hashalgo`) and the encrypted digest (`signature`).
// Layout: RFC 2315 §9 (ContentInfo, SignedData, SignerInfo), RFC 5652 §5.3 for the CMS v3 form whose
// signer is named by subjectKeyIdentifier (`sign-file -k`).
import {
  children,
  copyBytes,
  derError,
  expectTag,
  oidToString,
  readDer,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  TAG_SET,
  type Der,
} from './der.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_COMMON_NAME = '2.5.4.3';

/**
 * Digest OIDs → the names kmod prints. kmod 30 knows md4 … sm3 (its pkey_hash_algo table, hence
 * `rmd160`); newer kmod asks OpenSSL, which adds the SHA-3 family. Others print as a dotted OID.
 */
const DIGEST_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.2.4': 'md4',
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '1.3.36.3.2.1': 'rmd160',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '1.2.156.10197.1.401': 'sm3',
  '2.16.840.1.101.3.4.2.7': 'sha3-224',
  '2.16.840.1.101.3.4.2.8': 'sha3-256',
  '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
};

export interface Pkcs7SignerInfo {
  /** The issuer's commonName (kmod: the last name attribute when there is no CN), '' if none. */
  signer: string;
  /** The issuer's serial number as unsigned big-endian bytes without leading zeros, or the subjectKeyIdentifier. */
  keyId: Uint8Array;
  /** How the signer's certificate is named. */
  keyIdType: 'issuer-serial' | 'subject-key-identifier';
  /** 'sha256' …, or the dotted OID of a digest kmod has no name for. */
  hashAlgo: string;
  /** The digest algorithm's OID. */
  hashOid: string;
  /** The encryptedDigest: the signature bytes proper. */
  signature: Uint8Array;
}

/** An OCTET STRING's bytes, including BER's constructed form (nested OCTET STRING pieces). */
function octets(b: Uint8Array, el: Der): Uint8Array {
  if (el.tag === TAG_OCTET_STRING) return copyBytes(b, el.contentStart, el.contentEnd);
  if (el.tag === (TAG_OCTET_STRING | 0x20)) {
    return new Uint8Array(Buffer.concat(children(b, el).map((c) => octets(b, c))));
  }
  throw derError(`encryptedDigest: expected an OCTET STRING, found tag 0x${el.tag.toString(16)}`, el.start);
}

/** What OpenSSL's BN_bn2bin gives for an INTEGER: the magnitude, big-endian, no leading zeros. */
export function integerMagnitude(b: Uint8Array, el: Der): Uint8Array {
  const bytes = copyBytes(b, el.contentStart, el.contentEnd);
  if (bytes.length > 0 && bytes[0]! & 0x80) {
    // Negative: two's complement back to the magnitude.
    let carry = 1;
    for (let i = bytes.length - 1; i >= 0; i--) {
      const v = (~bytes[i]! & 0xff) + carry;
      bytes[i] = v & 0xff;
      carry = v >> 8;
    }
  }
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

/** Attribute values are strings of some ASN.1 string type; kmod prints their bytes up to a NUL. */
function attributeText(b: Uint8Array, el: Der): string {
  let end = el.contentStart;
  while (end < el.contentEnd && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + el.contentStart, end - el.contentStart).toString('utf8');
}

/** kmod's x509_name_to_str: the first commonName, else the last attribute of the Name, else ''. */
function signerName(b: Uint8Array, name: Der): string {
  let last: Der | undefined;
  for (const rdn of children(b, name)) {
    expectTag(rdn, TAG_SET, 'RelativeDistinguishedName', rdn.start);
    for (const atv of children(b, rdn)) {
      const [type, value] = children(b, expectTag(atv, TAG_SEQUENCE, 'AttributeTypeAndValue', atv.start));
      const oid = oidToString(b, expectTag(type, TAG_OID, 'attribute type', atv.start));
      if (!value) throw derError('attribute without a value', atv.start);
      if (oid === OID_COMMON_NAME) return attributeText(b, value);
      last = value;
    }
  }
  return last ? attributeText(b, last) : '';
}

/**
 * Blobs parsed before, by length, cut around the contents of their encryptedDigest. The modules of a
 * tree are all signed with the same key and attributes, so one's SignedData differs from another's of
 * the same length only inside those contents (the signature proper; an ECDSA one varies in length by a
 * byte or two, hence one entry per length). A blob whose bytes before and after them are an earlier
 * blob's has the same structure and the same fields outside them, so its answer is the earlier one with
 * its own signature bytes — and a whole-tree modinfo parses a signer or two, not thousands.
 */
const parsed = new Map<number, { before: Buffer; after: Buffer; digestStart: number; digestEnd: number; info: Pkcs7SignerInfo }>();
const MEMO_MAX = 16;

const view = (b: Uint8Array, start: number, end: number) => Buffer.from(b.buffer, b.byteOffset + start, end - start);

/** Parses the PKCS#7 blob `b` (exactly the signature's bytes) and returns its first signer. */
export function parsePkcs7(b: Uint8Array): Pkcs7SignerInfo {
  const m = parsed.get(b.length);
  if (m && view(b, 0, m.digestStart).equals(m.before) && view(b, m.digestEnd, b.length).equals(m.after)) {
    return { ...m.info, keyId: m.info.keyId.slice(), signature: copyBytes(b, m.digestStart, m.digestEnd) };
  }
  const { info, digest } = parseSignedData(b);
  // Only a primitive OCTET STRING: BER's constructed form nests elements inside the contents.
  if (digest.tag === TAG_OCTET_STRING) {
    if (parsed.size >= MEMO_MAX) parsed.clear();
    parsed.set(b.length, {
      before: Buffer.from(view(b, 0, digest.contentStart)),
      after: Buffer.from(view(b, digest.contentEnd, b.length)),
      digestStart: digest.contentStart,
      digestEnd: digest.contentEnd,
      info,
    });
  }
  return { ...info, keyId: info.keyId.slice() };
}

function parseSignedData(b: Uint8Array): { info: Pkcs7SignerInfo; digest: Der } {
  const contentInfo = expectTag(readDer(b, 0, b.length), TAG_SEQUENCE, 'ContentInfo', 0);
  const [contentType, explicit] = children(b, contentInfo);
  const type = oidToString(b, expectTag(contentType, TAG_OID, 'contentType', contentInfo.contentStart));
  if (type !== OID_SIGNED_DATA) throw derError(`contentType is ${type}, not signedData`, contentType!.start);
  const signedData = expectTag(
    children(b, expectTag(explicit, 0xa0, 'content [0]', contentInfo.contentStart))[0],
    TAG_SEQUENCE,
    'SignedData',
    explicit!.contentStart,
  );
  const sd = children(b, signedData);
  // version, digestAlgorithms, contentInfo, [0] certificates?, [1] crls?, signerInfos
  const signerInfos = sd[sd.length - 1];
  if (sd.length < 4) throw derError('SignedData has too few fields', signedData.start);
  const first = children(b, expectTag(signerInfos, TAG_SET, 'signerInfos', signedData.start))[0];
  const si = children(b, expectTag(first, TAG_SEQUENCE, 'SignerInfo', signerInfos!.start));
  if (si.length < 5) throw derError('SignerInfo has too few fields', first!.start);
  expectTag(si[0], TAG_INTEGER, 'SignerInfo version', first!.start);
  const sid = si[1]!;
  let signer = '';
  let keyId: Uint8Array;
  let keyIdType: Pkcs7SignerInfo['keyIdType'];
  if (sid.tag === TAG_SEQUENCE) {
    const [issuer, serial] = children(b, sid);
    signer = signerName(b, expectTag(issuer, TAG_SEQUENCE, 'issuer Name', sid.start));
    keyId = integerMagnitude(b, expectTag(serial, TAG_INTEGER, 'serialNumber', sid.start));
    keyIdType = 'issuer-serial';
  } else if (sid.tag === 0x80) {
    keyId = copyBytes(b, sid.contentStart, sid.contentEnd);
    keyIdType = 'subject-key-identifier';
  } else {
    throw derError(`SignerInfo names its signer with tag 0x${sid.tag.toString(16)}`, sid.start);
  }
  const digestAlgorithm = children(b, expectTag(si[2], TAG_SEQUENCE, 'digestAlgorithm', first!.start));
  const hashOid = oidToString(b, expectTag(digestAlgorithm[0], TAG_OID, 'digest algorithm OID', si[2]!.start));
  // [0] authenticatedAttributes is optional; then digestEncryptionAlgorithm, then encryptedDigest.
  let i = 3;
  if (si[i]?.tag === 0xa0) i++;
  expectTag(si[i], TAG_SEQUENCE, 'digestEncryptionAlgorithm', first!.start);
  const digest = si[i + 1];
  if (!digest) throw derError('missing encryptedDigest', first!.start);
  return { info: { signer, keyId, keyIdType, hashAlgo: DIGEST_NAMES[hashOid] ?? hashOid, hashOid, signature: octets(b, digest) }, digest };
}
