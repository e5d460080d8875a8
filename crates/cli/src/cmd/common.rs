//! Options shared by every subcommand that needs a taxonomy, and concept-name helpers.

use std::path::PathBuf;
use std::sync::Arc;

use hiercog_taxonomy::{ConceptId, Taxonomy};

/// Where the concept hierarchy comes from. Default: the WordNet 3.0 nouns embedded in hiercog.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TaxonomySource {
    /// Read WordNet from this dict directory (holding data.noun, index.noun, cntlist.rev) instead
    /// of the embedded WordNet 3.0 snapshot, e.g. /usr/share/wordnet on Debian. The WORDNET_DIR
    /// environment variable does the same.
    #[arg(long, value_name = "DIR", global = true)]
    pub wordnet_dir: Option<PathBuf>,
    /// Use your own hierarchy instead of WordNet: a file of `parent<TAB>child` lines (a concept
    /// may have several parents; cycles are rejected). Concept names are then your labels.
    #[arg(
        long = "taxonomy",
        value_name = "FILE",
        global = true,
        conflicts_with = "wordnet_dir"
    )]
    pub taxonomy_file: Option<PathBuf>,
}

impl TaxonomySource {
    /// The chosen source, as the library names it.
    pub fn source(&self) -> hiercog_taxonomy::TaxonomySource {
        hiercog_taxonomy::TaxonomySource::choose(
            self.wordnet_dir.as_deref(),
            self.taxonomy_file.as_deref(),
        )
    }

    /// Loads the chosen taxonomy (the embedded one is decoded once per process).
    pub fn load(&self) -> anyhow::Result<Arc<Taxonomy>> {
        Ok(self.source().load()?)
    }
}

/// Resolves a concept name; when it is not one, suggests concepts having it as a lemma.
pub fn resolve_concept(tax: &Taxonomy, name: &str) -> anyhow::Result<ConceptId> {
    tax.id(name).map_err(|e| {
        let found = tax.find_by_lemma(name);
        if found.is_empty() {
            return anyhow::Error::new(e);
        }
        let hint: Vec<String> = found
            .iter()
            .take(8)
            .map(|&c| {
                format!(
                    "{} ({}: {})",
                    tax.name(c),
                    tax.nltk_name(c),
                    tax.gloss(c)
                        .unwrap_or("")
                        .chars()
                        .take(60)
                        .collect::<String>()
                )
            })
            .collect();
        anyhow::Error::new(e).context(format!("{name:?} is a lemma of: {}", hint.join("; ")))
    })
}

/// Adds the command-line flag that fixes an error (library messages name parameters, not
/// flags): `error\n  hint: flag`, when `hint` knows one for the error of type `E` inside.
pub fn with_flag_hint<E: std::error::Error + Send + Sync + 'static>(
    err: anyhow::Error,
    hint: impl Fn(&E) -> Option<&'static str>,
) -> anyhow::Error {
    match err.downcast_ref::<E>().and_then(hint) {
        Some(flag) => anyhow::anyhow!("{err:#}\n  hint: {flag}"),
        None => err,
    }
}

/// Which tasks of a staged command to run: all, one stage, or one task of a stage (a Slurm
/// array index), as cluster jobs call it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StageSelection {
    /// Only this stage (see --list-tasks; cluster jobs use it).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// With --stage: only the task of this index within the stage (a Slurm array index).
    #[arg(long, requires = "stage")]
    pub task: Option<usize>,
    /// Record probe results as one file per run (safe on shared file systems; the report stage
    /// merges them).
    #[arg(long)]
    pub result_files: bool,
    /// List the tasks, per stage, with their array indices, and exit.
    #[arg(long)]
    pub list_tasks: bool,
}

impl StageSelection {
    /// Prints `stage<TAB>index<TAB>label` for every task, stage by stage (`--list-tasks`).
    pub fn list<T>(
        tasks: &[T],
        stages: &[&str],
        stage: impl Fn(&T) -> &str,
        label: impl Fn(&T) -> String,
    ) {
        for s in stages {
            for (i, t) in tasks.iter().filter(|t| stage(t) == *s).enumerate() {
                println!("{s}\t{i}\t{}", label(t));
            }
        }
    }

    /// The selected tasks among `tasks` (all of them without --stage); `stages` names the stages
    /// in messages.
    pub fn select<T>(
        &self,
        tasks: Vec<T>,
        stages: &[&str],
        stage: impl Fn(&T) -> &str,
    ) -> anyhow::Result<Vec<T>> {
        let Some(wanted) = &self.stage else {
            return Ok(tasks);
        };
        let of_stage: Vec<T> = tasks.into_iter().filter(|t| stage(t) == wanted).collect();
        if of_stage.is_empty() {
            anyhow::bail!(
                "no task in stage {wanted:?}: stages are {}",
                stages.join(", ")
            );
        }
        match self.task {
            None => Ok(of_stage),
            Some(i) => {
                let n = of_stage.len();
                let task = of_stage.into_iter().nth(i).ok_or_else(|| {
                    anyhow::anyhow!("stage {wanted} has {n} tasks (0..{}), not {i}", n - 1)
                })?;
                Ok(vec![task])
            }
        }
    }
}
