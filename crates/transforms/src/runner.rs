//! The in-process runner: a source's raw observations through intake and the pipeline.
//!
//! Two stages on two threads, connected by a bounded channel of batches: the calling
//! thread parses (inside the source's `feed`) and runs [`Intake`] (filter, pseudonymize),
//! so raw MACs never leave it; a second thread runs the stateful [`Pipeline`]. Batches keep
//! their order, so the result is exactly that of running both stages on one thread. Empty
//! batches flow back for reuse. This module owns the threading only.

use crate::intake::Intake;
use crate::pipeline::Pipeline;
use crate::sessionize::Sessions;
use footfall_core::{Observation, RawObservation};
use std::sync::mpsc;

const BATCH: usize = 8192;
const IN_FLIGHT: usize = 8;

/// Run `feed` (which calls its argument once per raw observation) through `intake` and
/// `pipeline`, appending finished visits and passes to `sessions`. Returns what `feed`
/// returns.
pub fn run<R>(
    intake: &mut Intake,
    pipeline: &mut Pipeline,
    sessions: &mut Sessions,
    feed: impl FnOnce(&mut dyn FnMut(RawObservation<'_>)) -> R,
) -> R {
    let (tx, rx) = mpsc::sync_channel::<Vec<Observation>>(IN_FLIGHT);
    let (back_tx, back_rx) = mpsc::channel::<Vec<Observation>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for mut batch in rx {
                for o in batch.drain(..) {
                    pipeline.push(o, sessions);
                }
                // The producer may have finished; a closed return channel is fine.
                let _ = back_tx.send(batch);
            }
        });
        let mut batch = Vec::with_capacity(BATCH);
        let result = feed(&mut |raw| {
            if intake.accept_into(&raw, &mut batch) && batch.len() == BATCH {
                let next = back_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
                // The consumer only stops when this sender is dropped, so send cannot fail.
                let _ = tx.send(std::mem::replace(&mut batch, next));
            }
        });
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PipelineConfig, Pseudonymizer};
    use footfall_core::{MacAddr, RadioKind, Site};

    #[test]
    fn same_result_as_one_thread() {
        let site = Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]]}],
            "sensors":[{"id":"a","x":5,"y":2,"store":"s1"}]}"#,
        )
        .unwrap();
        let macs: Vec<MacAddr> = (0..50u8).map(|i| MacAddr::new([0, 0x16, 0x3e, 0, 0, i])).collect();
        let frames: Vec<(i64, usize, i16)> =
            (0..40_000).map(|i| (i as i64 * 700, (i * 7919) % 50, if i % 2 == 0 { -50 - ((i * 31) % 20) as i16 } else { -76 })).collect();
        let feed = |emit: &mut dyn FnMut(RawObservation<'_>)| {
            for &(ts, m, rssi) in &frames {
                emit(RawObservation { ts, sensor: "a", mac: macs[m], rssi, freq: None, seq: None, ie: None, kind: RadioKind::Wifi });
            }
        };
        let mut two = Sessions::default();
        let mut p2 = Pipeline::new(&site, PipelineConfig::default());
        run(&mut Intake::new(&site, Pseudonymizer::new([3; 32])), &mut p2, &mut two, feed);
        p2.finish(&mut two);
        let mut one = Sessions::default();
        let mut p1 = Pipeline::new(&site, PipelineConfig::default());
        let mut intake = Intake::new(&site, Pseudonymizer::new([3; 32]));
        feed(&mut |raw| {
            if let Some(o) = intake.accept(&raw) {
                p1.push(o, &mut one);
            }
        });
        p1.finish(&mut one);
        assert!(!one.visits.is_empty() && !one.passes.is_empty());
        assert_eq!(one, two);
    }
}
