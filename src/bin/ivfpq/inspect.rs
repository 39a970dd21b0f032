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
    println!(
        "file       {} ({} bytes, format version {})",
        shard.name(),
        f.file_len,
        ivfpq::io::shard::layout::VERSION
    );
    println!("metric     {}", h.metric);
    println!(
        "vectors    {} rows, dim {}, refine vectors {:?}",
        f.rows, h.dim, h.storage
    );
    println!("string ids {}", if h.labels { "yes" } else { "no" });
    match h.codes {
        CodeKind::Pq => println!(
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
        ),
        CodeKind::Rabitq => println!(
            "model      nlist {}, RaBitQ {} bits a coordinate, random rotation {} × {}",
            h.nlist, h.bits, h.m, h.m
        ),
    }
    let mut sizes = shard.partition_sizes();
    sizes.sort_unstable();
    let empty = sizes.iter().filter(|&&s| s == 0).count();
    println!(
        "partitions min {}, median {}, max {} rows; {empty} empty",
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );
    println!(
        "checksums  directory {:08x}, centroids {:08x}, codebooks {:08x}, {} partition lists (CRC32C)",
        f.dir_crc,
        d.centroids.crc,
        d.codebooks.crc,
        d.entries.len()
    );
    if a.verify {
        shard.verify()?;
        println!("verify     every section and row checksum matches");
    }
    Ok(())
}
