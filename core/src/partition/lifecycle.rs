//! The partition lifecycle: created → loaded → running → halted / faulted / restarting.
//!
//! Every state change goes through [`Lifecycle`], which refuses transitions the model
//! does not allow, so a racing stop request from two vCPUs of one partition is decided
//! once.

/// Where a partition is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Built from the config; RAM not yet loaded.
    Created,
    /// Images copied into its RAM; no vCPU started.
    Loaded,
    /// Its boot vCPU has been started.
    Running,
    /// Stopped by its own request (power-off) or by its halt policy.
    Halted,
    /// Stopped because of something it did; stays so under the halt policy.
    Faulted,
    /// Being reloaded; goes back to loaded (or to faulted if its images cannot be
    /// restored).
    Restarting,
}

/// A transition the lifecycle refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    /// State the partition was in.
    pub from: State,
    /// State that was asked for.
    pub to: State,
}

/// The state plus the number of completed restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    state: State,
    restarts: u32,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A freshly created partition.
    pub const fn new() -> Self {
        Self { state: State::Created, restarts: 0 }
    }

    /// The current state.
    pub const fn state(&self) -> State {
        self.state
    }

    /// How many restarts completed.
    pub const fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether `from → to` is allowed.
    pub const fn allowed(from: State, to: State) -> bool {
        use State::*;
        matches!(
            (from, to),
            (Created, Loaded)
                | (Loaded, Running)
                | (Running, Halted)
                | (Running, Faulted)
                | (Running, Restarting)
                | (Faulted, Restarting)
                | (Halted, Restarting)
                | (Restarting, Loaded)
                | (Restarting, Faulted)
        )
    }

    /// Moves to `to`, counting a restart when a reload completes.
    pub fn go(&mut self, to: State) -> Result<(), InvalidTransition> {
        if !Self::allowed(self.state, to) {
            return Err(InvalidTransition { from: self.state, to });
        }
        if self.state == State::Restarting && to == State::Loaded {
            self.restarts = self.restarts.saturating_add(1);
        }
        self.state = to;
        Ok(())
    }

    /// Whether guest code may run.
    pub const fn is_running(&self) -> bool {
        matches!(self.state, State::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn the_normal_life_of_a_partition() {
        let mut l = Lifecycle::new();
        for s in [Loaded, Running, Restarting, Loaded, Running, Faulted, Restarting, Loaded] {
            l.go(s).unwrap();
        }
        assert_eq!(l.state(), Loaded);
        assert_eq!(l.restarts(), 2);
    }

    #[test]
    fn refused_transitions_change_nothing() {
        let mut l = Lifecycle::new();
        assert_eq!(l.go(Running), Err(InvalidTransition { from: Created, to: Running }));
        l.go(Loaded).unwrap();
        l.go(Running).unwrap();
        l.go(Halted).unwrap();
        // A second stop request (e.g. a fault racing the power-off) is refused.
        assert_eq!(l.go(Faulted), Err(InvalidTransition { from: Halted, to: Faulted }));
        assert_eq!(l.state(), Halted);
    }

    #[test]
    fn only_listed_transitions_are_allowed() {
        let all = [Created, Loaded, Running, Halted, Faulted, Restarting];
        let count = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (a, b)))
            .filter(|(a, b)| Lifecycle::allowed(**a, **b))
            .count();
        assert_eq!(count, 9);
    }
}
