//! Key sets: the proving and verifying key of a plugin, stored beside it and held in memory as
//! resident bases that jobs reach through handles.
//!
//! File format (little-endian), written to a temporary file and renamed, so a crash never leaves
//! a half-written key set:
//!
//! ```text
//! "PROVAKEY" | format: u32 = 1 | keccak256(body): 32 bytes | body
//! body = count: u32 | count x (name_len: u16 | name | kind: u8 | len: u64 | payload)
//! kind 0 = G1 points (len = number of u64 limbs), 1 = G2 points (limbs), 2 = bytes (len = bytes)
//! ```
//!
//! Every point is checked (on the curve, in the subgroup) when a key set is built, whether it
//! comes from a plugin's setup or from a file someone installed by hand.

use std::collections::BTreeMap;
use std::path::Path;

use prova_compute::{G1Bases, G2Bases};
use rayon::prelude::*;
use sha3::{Digest, Keccak256};

use crate::RuntimeError;

const MAGIC: &[u8; 8] = b"PROVAKEY";
const FORMAT: u32 = 1;

/// One section's content, in the wire encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionData {
    G1(Vec<u64>),
    G2(Vec<u64>),
    Bytes(Vec<u8>),
}

/// A validated point section, resident for MSMs. (Bytes sections need no validation and are
/// read straight from the file: [`KeySet::bytes`].)
#[derive(Debug, Clone)]
pub enum Section {
    G1(G1Bases),
    G2(G2Bases),
}

/// A plugin's key set. Its integrity (checksum, structure) is checked when it is read; its
/// points are checked once, on first use ([`KeySet::validate`]), so that listing plugins stays
/// fast and a node pays for validation once per process.
#[derive(Debug)]
pub struct KeySet {
    raw: BTreeMap<String, SectionData>,
    checked: std::sync::OnceLock<Result<BTreeMap<String, Section>, String>>,
    /// keccak256 of the encoded body: names this key set in logs.
    digest: [u8; 32],
}

/// Validates limbs in parallel chunks; the error names the point index in the whole section.
fn decode_points<P: Send>(
    limbs: &[u64],
    per: usize,
    decode: impl Fn(&[u64]) -> Result<Vec<P>, prova_codec::CodecError> + Sync,
) -> Result<Vec<P>, String> {
    if !limbs.len().is_multiple_of(per) {
        return Err(format!("{} limbs is not a whole number of points", limbs.len()));
    }
    const CHUNK: usize = 4096;
    let chunks: Vec<Result<Vec<P>, String>> = limbs
        .par_chunks(CHUNK * per)
        .enumerate()
        .map(|(c, chunk)| decode(chunk).map_err(|e| format!("{e} (chunk starting at point {})", c * CHUNK)))
        .collect();
    let mut out = Vec::with_capacity(limbs.len() / per);
    for c in chunks {
        out.extend(c?);
    }
    Ok(out)
}

/// The validated points of a point section; `None` for a bytes section.
fn check_section(name: &str, data: &SectionData) -> Option<Result<Section, String>> {
    let named = |e: String| format!("section {name:?}: {e}");
    Some(match data {
        SectionData::G1(l) => {
            decode_points(l, prova_codec::G1_LIMBS, prova_codec::g1s_from_limbs).map(|p| Section::G1(G1Bases::new(p))).map_err(named)
        }
        SectionData::G2(l) => {
            decode_points(l, prova_codec::G2_LIMBS, prova_codec::g2s_from_limbs).map(|p| Section::G2(G2Bases::new(p))).map_err(named)
        }
        SectionData::Bytes(_) => return None,
    })
}

impl KeySet {
    /// Takes sections as written; refuses duplicate names. Points are not checked yet.
    pub fn from_sections(sections: Vec<(String, SectionData)>) -> Result<Self, String> {
        let mut raw = BTreeMap::new();
        for (name, data) in sections {
            if raw.insert(name.clone(), data).is_some() {
                return Err(format!("section {name:?} appears twice"));
            }
        }
        // Sections are encoded in name order, so the digest is the file's checksum.
        let digest = Keccak256::digest(encode_body(&raw)).into();
        Ok(Self { raw, checked: std::sync::OnceLock::new(), digest })
    }

    /// Writes the key set atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), RuntimeError> {
        let body = encode_body(&self.raw);
        let mut out = Vec::with_capacity(body.len() + 44);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&body);
        crate::fsutil::write_atomically(path, &out)
            .map_err(|e| RuntimeError::Keys { path: path.to_owned(), why: format!("cannot write: {e}") })
    }

    /// Checks every point (on the curve, in the subgroup) and makes the point sections resident.
    /// The first call does the work; later calls return its outcome.
    pub fn validate(&self) -> Result<&BTreeMap<String, Section>, String> {
        self.checked
            .get_or_init(|| self.raw.iter().filter_map(|(n, d)| Some(check_section(n, d)?.map(|s| (n.clone(), s)))).collect())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A validated point section. `None` if absent, a bytes section, or if the key set failed
    /// validation (which [`KeySet::validate`] reports).
    pub fn get(&self, name: &str) -> Option<&Section> {
        self.validate().ok()?.get(name)
    }

    /// A bytes section, straight from the file (bytes need no validation).
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.raw.get(name)? {
            SectionData::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// Section names, kinds and sizes, for `plugins list` (no validation needed).
    pub fn describe(&self) -> Vec<String> {
        self.raw
            .iter()
            .map(|(n, s)| match s {
                SectionData::G1(l) => format!("{n}: {} G1 points", l.len() / prova_codec::G1_LIMBS),
                SectionData::G2(l) => format!("{n}: {} G2 points", l.len() / prova_codec::G2_LIMBS),
                SectionData::Bytes(b) => format!("{n}: {} bytes", b.len()),
            })
            .collect()
    }

    /// Reads a key file and checks its integrity (format, checksum, structure).
    pub fn read(path: &Path) -> Result<Self, RuntimeError> {
        let bad = |why: String| RuntimeError::Keys { path: path.to_owned(), why };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        if bytes.len() < 44 || &bytes[..8] != MAGIC {
            return Err(bad("not a prova key file (bad magic)".into()));
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(bad(format!("key file format {format}, this host reads {FORMAT}")));
        }
        let body = &bytes[44..];
        if Keccak256::digest(body)[..] != bytes[12..44] {
            return Err(bad("checksum mismatch: the file is corrupt or was truncated".into()));
        }
        let sections = decode_body(body).map_err(|e| bad(format!("malformed: {e}")))?;
        Self::from_sections(sections).map_err(bad)
    }
}

fn encode_body(sections: &BTreeMap<String, SectionData>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, data) in sections {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let (kind, len, payload): (u8, usize, Vec<u8>) = match data {
            SectionData::G1(l) => (0, l.len(), l.iter().flat_map(|x| x.to_le_bytes()).collect()),
            SectionData::G2(l) => (1, l.len(), l.iter().flat_map(|x| x.to_le_bytes()).collect()),
            SectionData::Bytes(b) => (2, b.len(), b.clone()),
        };
        out.push(kind);
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

fn decode_body(mut b: &[u8]) -> Result<Vec<(String, SectionData)>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!("truncated in {what}"));
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    let count = u32::from_le_bytes(take(&mut b, 4, "section count")?.try_into().expect("4"));
    let mut out = Vec::new();
    for i in 0..count {
        let nl = u16::from_le_bytes(take(&mut b, 2, "name length")?.try_into().expect("2")) as usize;
        let name = String::from_utf8(take(&mut b, nl, "name")?.to_vec()).map_err(|_| format!("section {i}: name is not UTF-8"))?;
        let kind = take(&mut b, 1, "kind")?[0];
        let len = u64::from_le_bytes(take(&mut b, 8, "length")?.try_into().expect("8"));
        let limbs = |b: &mut &[u8]| -> Result<Vec<u64>, String> {
            let n = usize::try_from(len).ok().and_then(|l| l.checked_mul(8)).ok_or("length overflows")?;
            Ok(take(b, n, &name)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect())
        };
        let data = match kind {
            0 => SectionData::G1(limbs(&mut b)?),
            1 => SectionData::G2(limbs(&mut b)?),
            2 => SectionData::Bytes(take(&mut b, usize::try_from(len).map_err(|_| "length overflows")?, &name)?.to_vec()),
            k => return Err(format!("section {name:?}: unknown kind {k}")),
        };
        out.push((name, data));
    }
    if !b.is_empty() {
        return Err(format!("{} trailing bytes", b.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{G1Affine, G2Affine};
    use ark_ec::AffineRepr;

    fn sample() -> Vec<(String, SectionData)> {
        let g1 = prova_codec::g1s_to_limbs(&[G1Affine::generator(), G1Affine::zero()]);
        let g2 = prova_codec::g2s_to_limbs(&[G2Affine::generator()]);
        vec![("a".into(), SectionData::G1(g1)), ("b".into(), SectionData::G2(g2)), ("vk".into(), SectionData::Bytes(vec![1, 2, 3]))]
    }

    #[test]
    fn a_key_file_round_trips_and_any_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.keys");
        KeySet::from_sections(sample()).unwrap().write(&path).unwrap();
        let ks = KeySet::read(&path).unwrap();
        assert!(ks.validate().is_ok());
        assert!(matches!(ks.get("a"), Some(Section::G1(b)) if b.len() == 2));
        assert!(matches!(ks.get("b"), Some(Section::G2(b)) if b.len() == 1));
        assert_eq!(ks.bytes("vk"), Some(&[1u8, 2, 3][..]));
        assert!(ks.get("vk").is_none() && ks.bytes("a").is_none(), "kinds are not interchangeable");

        let good = std::fs::read(&path).unwrap();
        for i in [0, 9, 20, 50, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            assert!(matches!(KeySet::read(&path), Err(RuntimeError::Keys { .. })), "byte {i}");
        }
        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(matches!(KeySet::read(&path), Err(RuntimeError::Keys { why, .. }) if why.contains("checksum")));
    }

    #[test]
    fn points_off_the_curve_are_refused_with_their_index() {
        let mut g1 = prova_codec::g1s_to_limbs(&[G1Affine::generator(); 3]);
        g1[2 * 8] ^= 1;
        let ks = KeySet::from_sections(vec![("a".into(), SectionData::G1(g1))]).unwrap();
        assert!(ks.get("a").is_none());
        let err = ks.validate().unwrap_err();
        assert!(err.contains("section \"a\"") && err.contains("point 2"), "{err}");
    }
}
