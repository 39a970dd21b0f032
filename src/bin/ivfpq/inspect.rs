//! `ivfpq inspect`: what a shard file holds, and whether its checksums hold.

use clap::Args;
use ivfpq::core::CodeKind;
use ivfpq::io::Shard;

use crate::store::StoreArgs;

/// Options of `ivfpq inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Shard path or URL.
    location: String,
    /// Also read every partition and verify every checksum.
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(a: InspectArgs) -> Result<(), Box<dyn std::error::Error>> {
    let shard = Shard::open(&a.location, &a.store.open_options()?)?;
    let h = shard.header();
    let (f, d) = (shard.footer(), shard.directory());
    outln!(
        "file       {} ({} bytes, format version {})",
        shard.name(),
        f.file_len,
        ivfpq::io::shard::layout::VERSION
    )?;
    outln!("metric     {}", h.metric)?;
    outln!(
        "vectors    {} rows, dim {}, refine vectors {:?}",
        f.rows,
        h.dim,
        h.storage
    )?;
    outln!("string ids {}", if h.labels { "yes" } else { "no" })?;
    match h.codes {
        CodeKind::Pq => outln!(
            "model      nlist {}, m {} × {} codewords (dsub {}), {}-bit PQ codes, {}",
            h.nlist,
            h.m,
            h.ksub(),
            h.dim / h.m.max(1),
            h.bits,
            if h.rotation {
                "OPQ rotation"
            } else {
                "no rotation"
            }
        )?,
        CodeKind::Rabitq => outln!(
            "model      nlist {}, RaBitQ {} bits a coordinate, random rotation {} × {}",
            h.nlist,
            h.bits,
            h.m,
            h.m
        )?,
    }
    let mut sizes = shard.partition_sizes();
    sizes.sort_unstable();
    let empty = sizes.iter().filter(|&&s| s == 0).count();
    match (sizes.first(), sizes.last()) {
        (Some(min), Some(max)) => outln!(
            "partitions min {min}, median {}, max {max} rows; {empty} empty",
            sizes[sizes.len() / 2]
        )?,
        _ => outln!("partitions none")?,
    }
    outln!(
        "checksums  directory {:08x}, centroids {:08x}, codebooks {:08x}, {} partition lists (CRC32C)",
        f.dir_crc,
        d.centroids.crc,
        d.codebooks.crc,
        d.entries.len()
    )?;
    if a.verify {
        shard.verify()?;
        outln!("verify     every section and row checksum matches")?;
    }
    Ok(())
}
