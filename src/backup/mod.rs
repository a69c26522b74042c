//! Backups: when copies run (cron schedules in a time zone, their worst gaps), which recovery points each tier
//! keeps, and whether the copies keep the RPO.

pub mod retention;
pub mod schedule;
