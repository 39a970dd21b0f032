//! `ivfpq`: build, search and benchmark IVF-PQ indexes from the command line.

/// `println!` that returns the write's `io::Result` instead of panicking, so that a
/// closed pipe (`ivfpq ... | head`) ends the command quietly (see [`broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod bench;
mod bench_collection;
mod build;
mod code_args;
mod collection;
mod collection_update;
mod ingest;
mod inspect;
mod metric_arg;
mod model_args;
mod probe_arg;
mod query_args;
mod refine_arg;
mod report;
mod scan_args;
mod search;
mod store;
mod synth;
mod vectors_arg;

use std::error::Error;
use std::process::ExitCode;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};

/// IVF-PQ vector search: build, search and benchmark.
#[derive(Parser)]
#[command(name = "ivfpq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index on a dataset folder (or a built-in synthetic one) and print recall
    /// and QPS per setting, as a table (or with --keys in the FAISS and hnswlib harness's
    /// key=value form).
    Bench(bench::BenchArgs),
    /// Build one shard file from a vector file (.fvecs, .npy, Arrow IPC).
    Build(build::BuildArgs),
    /// Plan input files into buckets of at most --bucket-rows rows, one shard each, from
    /// their headers.
    Plan(ingest::PlanArgs),
    /// Train a model on a streamed sample of a plan's inputs (or of --input files).
    Train(ingest::TrainArgs),
    /// Merge shard files of one model into one, partition by partition.
    MergeShards(ingest::MergeArgs),
    /// Search a shard file, local or on object storage.
    Search(search::SearchArgs),
    /// Print a shard's header, model, partition sizes and checksums.
    Inspect(inspect::InspectArgs),
    /// Write a synthetic dataset folder with exact ground truth.
    Synth(synth::SynthArgs),
    /// Collections of shards sharing one model: create, add, versions, and map-reduce
    /// search.
    #[command(subcommand)]
    Collection(collection::CollectionCommand),
    /// Print the SIMD level in use and the levels this CPU supports.
    Cpu,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    // Report a bad IVFPQ_SIMD before any work, instead of failing deep inside a build.
    let level = match ivfpq::simd::try_level() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Build(args) => build::run(args),
        Command::Plan(args) => ingest::plan(args),
        Command::Train(args) => ingest::train(args),
        Command::MergeShards(args) => ingest::merge(args),
        Command::Search(args) => search::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Collection(cmd) => collection::run(cmd),
        Command::Cpu => {
            let all: Vec<String> = ivfpq::simd::Level::available()
                .iter()
                .map(|l| l.to_string())
                .collect();
            outln!("active={level}  available={}", all.join(",")).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`ivfpq search ... | head`): nothing is wrong, stop quietly.
        Err(e) if broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e`, or any error in its source chain, is an `io::Error` of kind
/// `BrokenPipe`: stdout was closed by the reading end.
fn broken_pipe(e: &(dyn Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Parser of a count that must be at least 1 (`--batch`, `synth --n`, ...).
fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

/// `tracing` to stderr, filtered by `RUST_LOG` (default: warnings).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
