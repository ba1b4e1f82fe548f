//! Credit kinds across the book's plans: a kind an `order` lists must be one an account can
//! hold, or the order ranks nothing.

use super::*;

impl Checker<'_> {
    /// Reports each kind an `order` lists that no plan grants, sells or restores, unless its
    /// plan takes top-ups (a top-up may name any kind of the order). Book-wide: an account
    /// that changes plan keeps the kinds the earlier plan gave it.
    pub(super) fn kinds_never_held(&mut self) {
        let ordered = std::mem::take(&mut self.ordered_kinds);
        let mut held = self.held_kinds.clone();
        held.sort_unstable();
        held.dedup();
        for (kind, takes_topups) in ordered {
            if takes_topups || held.contains(&kind.text) {
                continue;
            }
            let help = did_you_mean(kind.text, held.iter().copied(), || {
                format!(
                    "give it with `grant 100 credit once as {0}, expires never` or `topup as {0}, expires never`, or take it out of the `order`",
                    kind.text
                )
            });
            self.push(BookError::KindNeverHeld {
                kind: kind.text.to_owned(),
                span: kind.span.into(),
                help,
            });
        }
    }
}
