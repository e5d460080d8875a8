//! The embedded WordNet snapshot format: `HCWN` magic, a little-endian u32 version, then a
//! zlib-compressed body. Body: u32 concept count; per concept: u32 offset, u8 lemma count,
//! lemmas (u8 length + UTF-8 bytes), u16 NLTK sense number, u32 SemCor count, u8 hypernym count,
//! u8 instance-hypernym count, then the parents as u32 concept indices; after all concepts, the
//! glosses in concept order (u16 length + UTF-8 bytes), kept together so they compress well.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::taxonomy::{RawConcept, Taxonomy};

/// Bumped whenever the layout above changes.
pub const SNAPSHOT_VERSION: u32 = 1;
const MAGIC: &[u8; 4] = b"HCWN";

/// Encodes a WordNet taxonomy in the snapshot format.
pub fn write_snapshot(tax: &Taxonomy) -> Result<Vec<u8>> {
    if !tax.is_wordnet() {
        return Err(Error::Snapshot(
            "only a WordNet taxonomy can be snapshotted".into(),
        ));
    }
    let mut body = Vec::new();
    body.extend((tax.len() as u32).to_le_bytes());
    for c in tax.all() {
        let offset: u32 = tax.name(c)[1..]
            .parse()
            .map_err(|_| Error::Snapshot(format!("bad wnid {}", tax.name(c))))?;
        body.extend(offset.to_le_bytes());
        let lemmas = tax.lemmas(c);
        body.push(
            u8::try_from(lemmas.len()).map_err(|_| Error::Snapshot("too many lemmas".into()))?,
        );
        for l in lemmas {
            body.push(
                u8::try_from(l.len())
                    .map_err(|_| Error::Snapshot(format!("lemma too long: {l}")))?,
            );
            body.extend(l.as_bytes());
        }
        body.extend(tax.sense_number(c).to_le_bytes());
        body.extend(tax.sense_count(c).to_le_bytes());
        let ps = tax.parents(c);
        let nh = tax.n_hypernyms(c);
        body.push(nh as u8);
        body.push((ps.len() - nh) as u8);
        for p in ps {
            body.extend(p.0.to_le_bytes());
        }
    }
    for c in tax.all() {
        let g = tax.gloss(c).unwrap_or("");
        body.extend(
            u16::try_from(g.len())
                .map_err(|_| Error::Snapshot(format!("gloss of {} too long", tax.name(c))))?
                .to_le_bytes(),
        );
        body.extend(g.as_bytes());
    }
    let mut out = Vec::from(&MAGIC[..]);
    out.extend(SNAPSHOT_VERSION.to_le_bytes());
    let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::best());
    enc.write_all(&body)
        .map_err(|e| Error::Snapshot(e.to_string()))?;
    enc.finish().map_err(|e| Error::Snapshot(e.to_string()))
}

/// Decodes a snapshot written by [`write_snapshot`].
pub fn read_snapshot(bytes: &[u8]) -> Result<Taxonomy> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(Error::Snapshot("missing HCWN magic".into()));
    }
    let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != SNAPSHOT_VERSION {
        return Err(Error::Snapshot(format!(
            "version {version}, this build reads {SNAPSHOT_VERSION}"
        )));
    }
    let mut body = Vec::new();
    flate2::read::ZlibDecoder::new(&bytes[8..])
        .read_to_end(&mut body)
        .map_err(|e| Error::Snapshot(e.to_string()))?;
    let mut r = Cursor { buf: &body, pos: 0 };
    let n = r.u32()? as usize;
    // The count comes from the input: never pre-allocate more than the body could hold.
    let mut concepts = Vec::with_capacity(n.min(body.len() / 16));
    for _ in 0..n {
        let offset = r.u32()?;
        let n_lemmas = r.u8()?;
        let mut lemmas = Vec::with_capacity(n_lemmas as usize);
        for _ in 0..n_lemmas {
            let len = r.u8()? as usize;
            let s =
                std::str::from_utf8(r.take(len)?).map_err(|e| Error::Snapshot(e.to_string()))?;
            lemmas.push(s.to_string());
        }
        let sense_number = r.u16()?;
        let sense_count = r.u32()?;
        let nh = r.u8()? as usize;
        let ni = r.u8()? as usize;
        let mut parents = Vec::with_capacity(nh + ni);
        for _ in 0..nh + ni {
            parents.push(r.u32()?);
        }
        concepts.push(RawConcept {
            name: format!("n{offset:08}"),
            lemmas,
            gloss: None,
            parents,
            n_hypernyms: nh,
            sense_count,
            sense_number,
        });
    }
    for c in concepts.iter_mut() {
        let len = r.u16()? as usize;
        let g = std::str::from_utf8(r.take(len)?).map_err(|e| Error::Snapshot(e.to_string()))?;
        c.gloss = (!g.is_empty()).then(|| g.to_string());
    }
    if r.pos != body.len() {
        return Err(Error::Snapshot("trailing bytes".into()));
    }
    Taxonomy::build(concepts, true, Path::new("<embedded WordNet snapshot>"))
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::Snapshot("truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wrap(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::from(&MAGIC[..]);
        out.extend(SNAPSHOT_VERSION.to_le_bytes());
        let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::fast());
        enc.write_all(body).unwrap();
        enc.finish().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        // A corrupt snapshot is an error, never a panic: random bodies, random raw bytes.
        #[test]
        fn corrupt_snapshots_are_errors(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_snapshot(&wrap(&body));
            let _ = read_snapshot(&body);
        }
    }
}
