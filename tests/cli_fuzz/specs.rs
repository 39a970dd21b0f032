//! What the fuzzer knows of the command line: the kinds of values flags take, garbage
//! values, and every subcommand's flags.

/// Values no flag should accept, or only some should.
pub const GARBAGE: &[&str] = &[
    "0",
    "-1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e20",
    "",
    " ",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "-9223372036854775808",
    "9223372036854775807",
    "4294967296",
    "0.5",
    "abc",
    "1,2,",
    ",",
    "auto:",
    "auto:0",
    "auto:-1",
    "off,nan",
];

/// What a flag takes; each kind has its own valid values, mixed with [`GARBAGE`].
#[derive(Clone, Copy)]
pub enum Kind {
    /// A row count or dimension: small, since valid values do real work.
    Size,
    /// A small count (k, nprobe, nlist, m, iterations, ...).
    Count,
    /// `bench --repeat`: each setting is timed this many times.
    Repeat,
    /// `bench --threads`.
    Threads,
    /// A number of seconds or a ratio.
    Float,
    Metric,
    Bits,
    Codes,
    Bool,
    Vectors,
    Storage,
    /// A comma-separated list of numbers (`bench --nprobe`).
    Counts,
    /// `bench --refine`.
    Refines,
    /// `bench --probe-ratio`.
    Ratios,
    Refine,
    Ratio,
    /// A vector file to read.
    Input,
    /// A shard (or model) file to read.
    ShardIn,
    /// A file to write.
    Output,
    /// A shard file to write.
    ShardOut,
    /// A dataset folder.
    Dataset,
    /// A collection folder.
    Collection,
    /// A partial result file (`collection search-shard` output).
    Partial,
    /// Any 64-bit number.
    Seed,
    /// A flag without a value.
    Switch,
    /// An id column name.
    Name,
    /// A plan file (`ivfpq plan` output) to read.
    Plan,
    /// A byte size (`--memory-limit`).
    Bytes,
}

/// A subcommand: its words, the flags always given (so that valid values stay small),
/// the flags given at random, and positional arguments.
pub struct Spec {
    /// The subcommand, e.g. `["collection", "add"]`.
    pub words: &'static [&'static str],
    /// Flags (almost) always given.
    pub always: &'static [(&'static str, Kind)],
    /// Flags each given now and then.
    pub optional: &'static [(&'static str, Kind)],
    /// Positional arguments, in order.
    pub positional: &'static [Kind],
}

/// Object-store flags (only their parsing matters: every path here is local).
pub const STORE: &[(&str, Kind)] = &[
    ("--timeout", Kind::Float),
    ("--retries", Kind::Count),
    ("--cache-mib", Kind::Count),
];

pub const SCAN: &[(&str, Kind)] = &[
    ("--k", Kind::Count),
    ("--nprobe", Kind::Count),
    ("--probe-ratio", Kind::Ratio),
    ("--refine", Kind::Refine),
    ("--epsilon", Kind::Float),
    ("--shared-table", Kind::Switch),
    ("--with-vectors", Kind::Switch),
];

pub const SPECS: &[Spec] = &[
    Spec {
        words: &["synth"],
        always: &[("--out", Kind::Output), ("--n", Kind::Size)],
        optional: &[
            ("--queries", Kind::Size),
            ("--dim", Kind::Size),
            ("--metric", Kind::Metric),
            ("--seed", Kind::Seed),
        ],
        positional: &[],
    },
    Spec {
        words: &["build"],
        always: &[("--input", Kind::Input), ("--output", Kind::ShardOut)],
        optional: &[
            ("--metric", Kind::Metric),
            ("--nlist", Kind::Count),
            ("--m", Kind::Count),
            ("--bits", Kind::Bits),
            ("--vectors", Kind::Vectors),
            ("--id-column", Kind::Name),
            ("--model", Kind::ShardIn),
            ("--model-output", Kind::ShardOut),
            ("--seed", Kind::Seed),
            ("--codes", Kind::Codes),
            ("--opq", Kind::Bool),
            ("--opq-iters", Kind::Count),
            ("--kmeans-iters", Kind::Count),
        ],
        positional: &[],
    },
    Spec {
        words: &["search"],
        always: &[("--index", Kind::ShardIn), ("--queries", Kind::Input)],
        optional: &[
            ("--output", Kind::Output),
            ("--stats", Kind::Switch),
            ("--batch", Kind::Count),
        ],
        positional: &[],
    },
    Spec {
        words: &["inspect"],
        always: &[],
        optional: &[("--verify", Kind::Switch)],
        positional: &[Kind::ShardIn],
    },
    Spec {
        words: &["bench"],
        always: &[("--synth-n", Kind::Size), ("--synth-dim", Kind::Size)],
        optional: &[
            ("--dataset", Kind::Dataset),
            ("--synth-metric", Kind::Metric),
            ("--nlist", Kind::Count),
            ("--m", Kind::Count),
            ("--bits", Kind::Bits),
            ("--nprobe", Kind::Counts),
            ("--refine", Kind::Refines),
            ("--probe-ratio", Kind::Ratios),
            ("--epsilon", Kind::Float),
            ("--shared-table", Kind::Switch),
            ("--threads", Kind::Threads),
            ("--json", Kind::Output),
            ("--seed", Kind::Seed),
            ("--storage", Kind::Storage),
            ("--shards", Kind::Count),
            ("--repeat", Kind::Repeat),
            ("--codes", Kind::Codes),
            ("--opq", Kind::Bool),
            ("--kmeans-iters", Kind::Count),
        ],
        positional: &[],
    },
    Spec {
        words: &["build"],
        always: &[
            ("--plan", Kind::Plan),
            ("--bucket", Kind::Count),
            ("--model", Kind::ShardIn),
            ("--output", Kind::ShardOut),
        ],
        optional: &[
            ("--memory-limit", Kind::Bytes),
            ("--vectors", Kind::Vectors),
            ("--temp-dir", Kind::Output),
        ],
        positional: &[],
    },
    Spec {
        words: &["plan"],
        always: &[
            ("--input", Kind::Input),
            ("--bucket-rows", Kind::Size),
            ("--output", Kind::Output),
        ],
        optional: &[("--id-column", Kind::Name)],
        positional: &[],
    },
    Spec {
        words: &["train"],
        always: &[("--plan", Kind::Plan), ("--output", Kind::ShardOut)],
        optional: &[
            ("--sample", Kind::Size),
            ("--memory-limit", Kind::Bytes),
            ("--metric", Kind::Metric),
            ("--nlist", Kind::Count),
            ("--m", Kind::Count),
            ("--bits", Kind::Bits),
            ("--seed", Kind::Seed),
            ("--codes", Kind::Codes),
        ],
        positional: &[],
    },
    Spec {
        words: &["train"],
        always: &[("--input", Kind::Input), ("--output", Kind::ShardOut)],
        optional: &[("--nlist", Kind::Count), ("--memory-limit", Kind::Bytes)],
        positional: &[],
    },
    Spec {
        words: &["merge-shards"],
        always: &[("--inputs", Kind::ShardIn), ("--output", Kind::ShardOut)],
        optional: &[],
        positional: &[],
    },
    Spec {
        words: &["collection", "create"],
        always: &[("--model", Kind::ShardIn)],
        optional: &[("--separately-trained", Kind::Switch)],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["collection", "create"],
        always: &[
            ("--separately-trained", Kind::Switch),
            ("--dim", Kind::Size),
            ("--metric", Kind::Metric),
        ],
        optional: &[],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["collection", "add"],
        always: &[],
        optional: &[],
        positional: &[Kind::Collection, Kind::ShardIn, Kind::ShardIn],
    },
    Spec {
        words: &["collection", "search"],
        always: &[("--queries", Kind::Input)],
        optional: &[
            ("--version", Kind::Count),
            ("--output", Kind::Output),
            ("--stats", Kind::Switch),
            ("--local-cache", Kind::Output),
            ("--download-min-queries", Kind::Count),
        ],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["collection", "search-shard"],
        always: &[
            ("--queries", Kind::Input),
            ("--output", Kind::Output),
            ("--shard", Kind::Count),
        ],
        optional: &[("--version", Kind::Count)],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["collection", "merge"],
        always: &[],
        optional: &[("--output", Kind::Output)],
        positional: &[Kind::Partial, Kind::Partial],
    },
    Spec {
        words: &["collection", "versions"],
        always: &[],
        optional: &[("--version", Kind::Count)],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["collection", "inspect"],
        always: &[],
        optional: &[("--version", Kind::Count)],
        positional: &[Kind::Collection],
    },
    Spec {
        words: &["cpu"],
        always: &[],
        optional: &[],
        positional: &[],
    },
];
