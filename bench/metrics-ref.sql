-- Reference for bench/metrics.sh: a subset of the metric catalogue for one
-- snapshot (@DAY@: data stamped before that day), in plain SQL over the raw
-- events as `sqlite3 .import` loads them (TEXT columns, ISO timestamps with Z,
-- so string comparison orders them), indexed by (account_id, ts).
.mode csv
.headers on
WITH
 win AS (SELECT account_id, user_id, event, ts FROM events
         WHERE ts >= date('@DAY@', '-56 days') AND ts < '@DAY@'),
 cur AS (SELECT * FROM win WHERE ts >= date('@DAY@', '-28 days')),
 per_user AS (SELECT account_id, user_id, count(*) AS n,
                     count(DISTINCT substr(ts, 1, 10)) AS days
              FROM cur WHERE user_id <> '' GROUP BY account_id, user_id),
 weeks AS (SELECT account_id, user_id,
                  count(DISTINCT CAST((julianday('@DAY@') - julianday(substr(ts, 1, 10))) / 7 AS INT)) AS w
           FROM events WHERE ts >= date('@DAY@', '-56 days') AND ts < '@DAY@' AND user_id <> ''
           GROUP BY account_id, user_id),
 ever AS (SELECT account_id, count(DISTINCT user_id) AS users, max(ts) AS last_ts
          FROM events WHERE ts < '@DAY@' GROUP BY account_id),
 feats AS (SELECT c.account_id, count(DISTINCT f.feature) AS features,
                  sum(f.tier = 'advanced') * 1.0 / count(*) AS adv_share
           FROM cur c JOIN features f ON f.event = c.event GROUP BY c.account_id),
 agg AS (SELECT account_id, count(*) AS active_users, sum(n) AS user_events, max(n) AS top_n,
                avg(days) AS avg_days FROM per_user GROUP BY account_id),
 prev AS (SELECT account_id, count(*) AS n FROM win WHERE ts < date('@DAY@', '-28 days')
          GROUP BY account_id),
 now AS (SELECT account_id, count(*) AS n FROM cur GROUP BY account_id)
SELECT a.account_id,
       julianday('@DAY@') - julianday(a.contract_start) AS tenure_days,
       coalesce(now.n, 0) AS events_window,
       CASE WHEN prev.n > 0 THEN (coalesce(now.n, 0) - prev.n) * 100.0 / prev.n END AS events_change_pct,
       coalesce(agg.active_users, 0) AS active_users,
       coalesce(agg.active_users, 0) * 1.0 / nullif(a.seats, 0) AS active_licence_ratio,
       coalesce(ever.users, 0) * 1.0 / nullif(a.seats, 0) AS licence_activation,
       a.seats - coalesce(agg.active_users, 0) AS licence_gap,
       agg.avg_days AS active_days_per_active_user,
       (SELECT avg(w) FROM weeks WHERE weeks.account_id = a.account_id) AS weekly_consistency,
       julianday('@DAY@') - julianday(substr(ever.last_ts, 1, 10)) AS days_since_last_activity,
       agg.top_n * 1.0 / agg.user_events AS top_user_share,
       feats.features AS features_used,
       feats.adv_share AS advanced_feature_share
FROM accounts a
LEFT JOIN now ON now.account_id = a.account_id
LEFT JOIN prev ON prev.account_id = a.account_id
LEFT JOIN agg ON agg.account_id = a.account_id
LEFT JOIN ever ON ever.account_id = a.account_id
LEFT JOIN feats ON feats.account_id = a.account_id
WHERE a.contract_start < '@DAY@' AND (a.churn_date = '' OR a.churn_date >= '@DAY@');
