//! A collection with its embedding function: raw rows in, raw queries searched.

use std::sync::Arc;

use ivfpq_core::SearchOptions;

use super::{Embedder, EmbedderOptions, EmbeddingFunction, EmbeddingRef, Input};
use crate::change::Change;
use crate::error::{Result, ShardError, invalid};
use crate::{Collection, SearchResults};

impl Collection {
    /// Records `f` as the function that embeds this collection's raw inputs, in a new
    /// version. Its dimension and metric must be the collection's.
    pub fn set_embedding(&self, f: &dyn EmbeddingFunction) -> Result<u64> {
        let m = self.manifest();
        if f.dim() != m.dim as usize || f.metric() != m.metric() {
            return Err(invalid(
                "embedding",
                format!(
                    "{} gives {}-d vectors for {}, but the collection holds {}-d vectors for {}",
                    f.name(),
                    f.dim(),
                    f.metric(),
                    m.dim,
                    m.metric
                ),
            ));
        }
        let record = EmbeddingRef::of(f);
        self.commit_change("set embedding", |_| {
            Ok(Change {
                operation: format!("embedding {}", record.name),
                embedding: Some(record.clone()),
                ..Default::default()
            })
        })
    }

    /// The embedding function the pinned version records.
    pub fn embedding(&self) -> Option<EmbeddingRef> {
        self.manifest().embedding
    }
}

/// A collection opened with the embedding function its manifest records: `add` takes
/// raw inputs beside ids, `search` raw queries. Embedding runs in this process, through
/// an [`Embedder`] (batches, cache, retries), whether the collection is local or remote.
pub struct EmbeddedCollection {
    collection: Arc<Collection>,
    embedder: Embedder,
}

impl std::fmt::Debug for EmbeddedCollection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCollection")
            .field("uri", &self.collection.uri())
            .field("embedder", &self.embedder)
            .finish()
    }
}

impl EmbeddedCollection {
    /// `collection` (shared: adds through either are one collection's) with the one of
    /// `functions` its manifest records (same name,
    /// configuration, dimension and metric). [`ShardError::EmbeddingUnavailable`] names
    /// the recorded function when none of them is it.
    pub fn new(
        collection: Arc<Collection>,
        functions: &[Arc<dyn EmbeddingFunction>],
        opts: EmbedderOptions,
    ) -> Result<EmbeddedCollection> {
        let Some(record) = collection.embedding() else {
            return Err(invalid(
                "embedding",
                format!(
                    "{} records no embedding function (Collection::set_embedding)",
                    collection.uri()
                ),
            ));
        };
        let Some(f) = functions.iter().find(|f| record.matches(f.as_ref())) else {
            return Err(ShardError::EmbeddingUnavailable {
                uri: collection.uri().to_string(),
                name: record.name,
                config: record.config.to_string(),
            });
        };
        let embedder = Embedder::new(f.clone(), opts)?;
        Ok(EmbeddedCollection {
            collection,
            embedder,
        })
    }

    /// The collection (vector adds and searches, versions, compaction), shared.
    pub fn collection(&self) -> &Arc<Collection> {
        &self.collection
    }

    /// The embedder (its call count and cache).
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Embeds `inputs` and adds them with `ids`, as [`Collection::add`].
    pub fn add(&self, inputs: &[Input<'_>], ids: &[u64]) -> Result<u64> {
        self.check_len(inputs.len(), ids.len())?;
        self.collection.add(&self.embedder.embed(inputs)?, ids)
    }

    /// Embeds `inputs` and adds them with string ids, as [`Collection::add_labeled`].
    pub fn add_labeled(&self, inputs: &[Input<'_>], labels: &[String]) -> Result<u64> {
        self.check_len(inputs.len(), labels.len())?;
        self.collection
            .add_labeled(&self.embedder.embed(inputs)?, labels)
    }

    /// Embeds `inputs` and upserts them, as [`Collection::upsert`].
    pub fn upsert(&self, inputs: &[Input<'_>], ids: &[u64]) -> Result<u64> {
        self.check_len(inputs.len(), ids.len())?;
        self.collection.upsert(&self.embedder.embed(inputs)?, ids)
    }

    /// Embeds the queries and searches, as [`Collection::search`].
    pub fn search(&self, queries: &[Input<'_>], opts: &SearchOptions) -> Result<SearchResults> {
        self.collection.search(&self.embedder.embed(queries)?, opts)
    }

    fn check_len(&self, inputs: usize, ids: usize) -> Result<()> {
        if inputs != ids {
            return Err(invalid("ids", format!("{ids} ids for {inputs} inputs")));
        }
        Ok(())
    }
}
