use anchor_lang::prelude::*;

/// A bonded amount (a node's bonded stake, or the network's total) at the start of the last two
/// stake epochs (`Config::stake_epoch_slots` slots each), and its lowest value since: what a sortition draw counts (docs/PROTOCOL.md,
/// "Sortition").
///
/// A round's seed is the hash of a slot nobody knew before it ended. A draw counts only stake
/// that has stayed bonded since the start of the seed slot's epoch, so stake moved in after the
/// seed (or anywhere in the seed's epoch, or moved out and back) buys nothing in that round,
/// and neither does stake moved out: the network total a draw divides by is the amount at the
/// start of that same epoch. Updated lazily: every change of the tracked amount calls
/// [`StakeHistory::roll`] before it and [`StakeHistory::note`] after it.
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct StakeHistory {
    /// Epoch of the last change of the tracked amount (no change since).
    pub epoch: u64,
    /// The amount at the start of `epoch`.
    pub at_epoch_start: u64,
    /// The amount at the start of `epoch - 1`.
    pub at_prev_epoch_start: u64,
    /// The lowest the amount has been in `epoch` (its start included).
    pub low_in_epoch: u64,
    /// The lowest the amount was in `epoch - 1` (its start included).
    pub low_in_prev_epoch: u64,
}

impl StakeHistory {
    /// Call before the tracked amount, `live` now, changes in `epoch`.
    pub fn roll(&mut self, live: u64, epoch: u64) {
        if epoch <= self.epoch {
            return;
        }
        // nothing changed since `self.epoch`: every epoch after it started (and stayed) at `live`
        if epoch == self.epoch.saturating_add(1) {
            self.at_prev_epoch_start = self.at_epoch_start;
            self.low_in_prev_epoch = self.low_in_epoch;
        } else {
            self.at_prev_epoch_start = live;
            self.low_in_prev_epoch = live;
        }
        self.at_epoch_start = live;
        self.low_in_epoch = live;
        self.epoch = epoch;
    }

    /// Call after the tracked amount changed (to `live`) in the epoch given to `roll`.
    pub fn note(&mut self, live: u64) {
        self.low_in_epoch = self.low_in_epoch.min(live);
    }

    /// The least the amount has been from the start of `epoch` until now (`live`): what stayed
    /// there all along. `None` when `epoch` is older than the two kept.
    pub fn lowest_since_start_of(&self, live: u64, epoch: u64) -> Option<u64> {
        if epoch > self.epoch {
            Some(live)
        } else if epoch == self.epoch {
            Some(self.low_in_epoch.min(live))
        } else if epoch.checked_add(1) == Some(self.epoch) {
            Some(self.low_in_prev_epoch.min(self.low_in_epoch).min(live))
        } else {
            None
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(h: &mut StakeHistory, live: &mut u64, to: u64, epoch: u64) {
        h.roll(*live, epoch);
        *live = to;
        h.note(to);
    }

    #[test]
    fn keeps_the_amount_at_the_start_of_the_last_two_epochs() {
        let mut h = StakeHistory::default();
        let mut live = 0;
        // 100 bonded in epoch 3
        change(&mut h, &mut live, 100, 3);
        assert_eq!(h.at_start_of(live, 3), Some(0), "moved in during epoch 3");
        assert_eq!(h.at_start_of(live, 4), Some(100));
        // 50 more in epoch 4, then 30 out
        change(&mut h, &mut live, 150, 4);
        change(&mut h, &mut live, 120, 4);
        assert_eq!(h.at_start_of(live, 3), Some(0));
        assert_eq!(h.at_start_of(live, 4), Some(100));
        assert_eq!(h.at_start_of(live, 5), Some(120));
        assert_eq!(h.at_start_of(live, 2), None, "older than kept");
        // next change in epoch 7: epochs 5..=7 all started at 120
        change(&mut h, &mut live, 0, 7);
        assert_eq!(h.at_start_of(live, 6), Some(120));
        assert_eq!(h.at_start_of(live, 7), Some(120));
        assert_eq!(h.at_start_of(live, 8), Some(0));
        assert_eq!(h.at_start_of(live, 5), None);
    }

    #[test]
    fn counts_only_what_stayed_since_the_start_of_an_epoch() {
        let mut h = StakeHistory::default();
        let mut live = 0;
        change(&mut h, &mut live, 100, 2);
        assert_eq!(
            h.lowest_since_start_of(live, 2),
            Some(0),
            "moved in during epoch 2"
        );
        assert_eq!(h.lowest_since_start_of(live, 3), Some(100));
        // epoch 3: all out, then back in: none of it stayed since the start of 3 (or of 2)
        change(&mut h, &mut live, 0, 3);
        change(&mut h, &mut live, 100, 3);
        assert_eq!(h.lowest_since_start_of(live, 3), Some(0));
        assert_eq!(h.lowest_since_start_of(live, 2), Some(0));
        assert_eq!(h.lowest_since_start_of(live, 4), Some(100));
        // epoch 4: 40 out; since the start of 4, 60 stayed; since the start of 3, nothing
        change(&mut h, &mut live, 60, 4);
        assert_eq!(h.lowest_since_start_of(live, 4), Some(60));
        assert_eq!(h.lowest_since_start_of(live, 3), Some(0));
        assert_eq!(h.lowest_since_start_of(live, 2), None);
        // epoch 6, nothing changed since 4: 60 stayed since the start of 5 and of 6
        change(&mut h, &mut live, 80, 6);
        assert_eq!(h.lowest_since_start_of(live, 6), Some(60));
        assert_eq!(h.lowest_since_start_of(live, 5), Some(60));
        assert_eq!(h.lowest_since_start_of(live, 7), Some(80));
    }
}
