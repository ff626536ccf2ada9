use super::ScheduleError;
use std::time::Duration;

/// When a scheduled recipe runs: an interval that cron can express exactly,
/// at a minute (and hour) offset chosen per recipe so that many scheduled
/// recipes do not all start at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interval {
    /// Every n minutes, n dividing 60.
    Minutes(u32),
    /// Every n hours, n dividing 24, at minute `at_minute`.
    Hours { every: u32, at_minute: u32 },
    /// Every day at `at_hour:at_minute`.
    Daily { at_hour: u32, at_minute: u32 },
    /// Every week, on `weekday` (0 = Sunday) at `at_hour:at_minute`.
    Weekly {
        weekday: u32,
        at_hour: u32,
        at_minute: u32,
    },
}

impl Interval {
    /// Parse `--every` (`30m`, `6h`, `1d`, `7d`); `seed` spreads the offset.
    pub fn parse(every: &str, seed: u64) -> Result<Interval, ScheduleError> {
        let d: Duration =
            humantime::parse_duration(every).map_err(|source| ScheduleError::Interval {
                value: every.to_owned(),
                source,
            })?;
        let secs = d.as_secs();
        if secs == 0 || !secs.is_multiple_of(60) {
            return Err(ScheduleError::PartMinute {
                value: every.to_owned(),
            });
        }
        let minutes = (secs / 60) as u32;
        let at_minute = (seed % 60) as u32;
        let at_hour = ((seed / 60) % 24) as u32;
        Ok(match minutes {
            m if m < 60 && 60u32.is_multiple_of(m) => Interval::Minutes(m),
            m if m.is_multiple_of(60) && m < 24 * 60 && (24u32 * 60).is_multiple_of(m) => {
                Interval::Hours {
                    every: m / 60,
                    at_minute,
                }
            }
            1440 => Interval::Daily { at_hour, at_minute },
            10080 => Interval::Weekly {
                weekday: ((seed / 1440) % 7) as u32,
                at_hour,
                at_minute,
            },
            _ => {
                return Err(ScheduleError::Uneven {
                    value: every.to_owned(),
                });
            }
        })
    }

    /// The five cron time fields.
    pub fn cron(&self) -> String {
        match self {
            Interval::Minutes(1) => "* * * * *".to_owned(),
            Interval::Minutes(m) => format!("*/{m} * * * *"),
            Interval::Hours {
                every: 1,
                at_minute,
            } => format!("{at_minute} * * * *"),
            Interval::Hours { every, at_minute } => format!("{at_minute} */{every} * * *"),
            Interval::Daily { at_hour, at_minute } => format!("{at_minute} {at_hour} * * *"),
            Interval::Weekly {
                weekday,
                at_hour,
                at_minute,
            } => format!("{at_minute} {at_hour} * * {weekday}"),
        }
    }

    /// The same times as a systemd `OnCalendar=` expression.
    pub fn on_calendar(&self) -> String {
        match self {
            Interval::Minutes(1) => "*-*-* *:*:00".to_owned(),
            Interval::Minutes(m) => format!("*-*-* *:00/{m}:00"),
            Interval::Hours { every, at_minute } => format!("*-*-* 00/{every}:{at_minute:02}:00"),
            Interval::Daily { at_hour, at_minute } => {
                format!("*-*-* {at_hour:02}:{at_minute:02}:00")
            }
            Interval::Weekly {
                weekday,
                at_hour,
                at_minute,
            } => {
                let day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][*weekday as usize];
                format!("{day} *-*-* {at_hour:02}:{at_minute:02}:00")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fields_for_common_intervals() {
        assert_eq!(Interval::parse("1m", 7).unwrap().cron(), "* * * * *");
        assert_eq!(Interval::parse("15m", 7).unwrap().cron(), "*/15 * * * *");
        assert_eq!(Interval::parse("1h", 7).unwrap().cron(), "7 * * * *");
        assert_eq!(Interval::parse("6h", 17).unwrap().cron(), "17 */6 * * *");
        assert_eq!(
            Interval::parse("24h", 60 * 3 + 5).unwrap().cron(),
            "5 3 * * *"
        );
        assert_eq!(
            Interval::parse("1d", 5).unwrap().on_calendar(),
            "*-*-* 00:05:00"
        );
        assert_eq!(
            Interval::parse("6h", 17).unwrap().on_calendar(),
            "*-*-* 00/6:17:00"
        );
        assert_eq!(Interval::parse("7d", 0).unwrap().cron(), "0 0 * * 0");
    }

    #[test]
    fn rejects_what_cron_cannot_do_evenly() {
        for bad in ["5h", "7m", "90m", "2d"] {
            let err = Interval::parse(bad, 0).unwrap_err();
            assert!(
                matches!(&err, ScheduleError::Uneven { value } if value == bad),
                "{err}"
            );
        }
        for bad in ["0s", "30s", "90s"] {
            let err = Interval::parse(bad, 0).unwrap_err();
            assert!(matches!(err, ScheduleError::PartMinute { .. }), "{err}");
        }
        let err = Interval::parse("soon", 0).unwrap_err();
        assert!(matches!(err, ScheduleError::Interval { .. }), "{err}");
    }
}
