use anchor_lang::prelude::*;

/// A bonded amount (a node's bonded stake, or the network's total) as it stood at the start of
/// the last two Solana epochs: what a sortition draw counts (docs/PROTOCOL.md, "Sortition").
///
/// A round's seed is the hash of a slot nobody knew before it ended. A draw counts only stake
/// that was already bonded at the start of the seed slot's epoch, so stake moved in after the
/// seed (or anywhere in the seed's epoch) buys nothing in that round, and neither does stake
/// moved out: the network total a draw divides by is the snapshot of the same moment.
/// Updated lazily: every change of the tracked amount first calls [`StakeHistory::roll`].
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct StakeHistory {
    /// Epoch of the last change of the tracked amount (no change since).
    pub epoch: u64,
    /// The amount at the start of `epoch`.
    pub at_epoch_start: u64,
    /// The amount at the start of `epoch - 1`.
    pub at_prev_epoch_start: u64,
}

impl StakeHistory {
    /// Call before the tracked amount, `live` now, changes in `epoch`.
    pub fn roll(&mut self, live: u64, epoch: u64) {
        if epoch <= self.epoch {
            return;
        }
        // nothing changed since `self.epoch`: every epoch after it started at `live`
        self.at_prev_epoch_start = if epoch == self.epoch.saturating_add(1) {
            self.at_epoch_start
        } else {
            live
        };
        self.at_epoch_start = live;
        self.epoch = epoch;
    }

    /// The amount at the start of `epoch`, given that it is `live` now; `None` when that is
    /// older than the two epochs kept.
    pub fn at_start_of(&self, live: u64, epoch: u64) -> Option<u64> {
        if epoch > self.epoch {
            Some(live)
        } else if epoch == self.epoch {
            Some(self.at_epoch_start)
        } else if epoch.checked_add(1) == Some(self.epoch) {
            Some(self.at_prev_epoch_start)
        } else {
            None
        }
    }
}

/// The Solana epoch of `slot` (the EpochSchedule sysvar; short warm-up epochs included).
pub fn epoch_of(slot: u64) -> Result<u64> {
    Ok(EpochSchedule::get()?.get_epoch(slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_amount_at_the_start_of_the_last_two_epochs() {
        let mut h = StakeHistory::default();
        // 100 bonded in epoch 3
        h.roll(0, 3);
        let mut live = 100;
        assert_eq!(h.at_start_of(live, 3), Some(0), "moved in during epoch 3");
        assert_eq!(h.at_start_of(live, 4), Some(100));
        // 50 more in epoch 4, then 30 out
        h.roll(live, 4);
        live += 50;
        h.roll(live, 4);
        live -= 30;
        assert_eq!(h.at_start_of(live, 3), Some(0));
        assert_eq!(h.at_start_of(live, 4), Some(100));
        assert_eq!(h.at_start_of(live, 5), Some(120));
        assert_eq!(h.at_start_of(live, 2), None, "older than kept");
        // next change in epoch 7: epochs 5..=7 all started at 120
        h.roll(live, 7);
        live = 0;
        assert_eq!(h.at_start_of(live, 6), Some(120));
        assert_eq!(h.at_start_of(live, 7), Some(120));
        assert_eq!(h.at_start_of(live, 8), Some(0));
        assert_eq!(h.at_start_of(live, 5), None);
    }
}
