// The transactions of wal-writer.mjs, shared with tests that replay them: commit `i` is the same
// rows whoever runs it, so the database after commit i can be rebuilt in memory and compared.
export function prepareOps(db) {
  db.exec('create table if not exists fills (id integer primary key, n integer, note text)');
  const insert = db.prepare('insert into fills (n, note) values (?, ?)');
  // Only the newest rows are updated: an update of a seventh of a table that keeps growing would
  // make each commit larger than the last, and a test's WAL grow by gigabytes within a minute.
  const update = db.prepare('update fills set note = note || ? where id % 7 = ? and id > (select max(id) from fills) - 700');
  const remove = db.prepare('delete from fills where id % 11 = ? and id < ?');
  return db.transaction((i) => {
    const rows = i % 50 === 0 ? 300 : 1 + (i % 5);
    for (let r = 0; r < rows; r++) insert.run(i, `fill ${i}.${r} ${'x'.repeat((i * 31 + r) % 400)}`);
    if (i % 3 === 0) update.run(`u${i}`, i % 7);
    if (i % 13 === 0) remove.run(i % 11, i * 2);
  });
}
