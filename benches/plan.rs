//! validate + expand + plan, for the shipped runner recipe and for a
//! synthetic 10,000-cell matrix. Target: the 10,000-cell plan under 200 ms.
//!
//! `cargo bench --bench plan`

use camino::Utf8Path;
use criterion::{Criterion, criterion_group, criterion_main};
use pipeline::plan::Plan;
use std::hint::black_box;

mod synthetic;

fn load_and_plan(path: &Utf8Path) -> usize {
    let recipe = pipeline::loader::load(path).expect("valid recipe");
    let all: Vec<pipeline::model::CellId> = recipe.cell_ids().collect();
    let plan = Plan::new(&recipe, recipe.build.backend.steps(), &all);
    plan.len()
}

fn bench(c: &mut Criterion) {
    let runner = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/github-runner.toml");
    let big = synthetic::synthetic(10_000);

    let mut g = c.benchmark_group("plan");
    g.bench_function("runner (18 cells): load+validate+expand+plan", |b| {
        b.iter(|| black_box(load_and_plan(&runner)))
    });
    g.bench_function("runner (18 cells): render every template", |b| {
        let recipe = pipeline::loader::load(&runner).unwrap();
        b.iter(|| black_box(recipe.check_templates(&[])).len())
    });
    g.sample_size(20);
    g.bench_function("synthetic (10,000 cells): load+validate+expand+plan", |b| {
        b.iter(|| black_box(load_and_plan(&big.recipe)))
    });
    g.bench_function("synthetic (10,000 cells): render every template", |b| {
        let recipe = pipeline::loader::load(&big.recipe).unwrap();
        b.iter(|| black_box(recipe.check_templates(&[])).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
