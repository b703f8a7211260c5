// KafkaJS against `reflog serve`: one command per run, driven by tests/kafka/kafkajs.py.
//
//   node kafkajs_client.js COMMAND BOOTSTRAP 'JSON-ARGS'
//
// Every result is one JSON object on its own stdout line; KafkaJS's own log goes to stderr (at
// WARN unless KAFKAJS_LOG_LEVEL says otherwise), so the harness can show it when a test fails.
// A command that fails prints {"event": "error", ...} and exits 1.
//
// Every command's args may hold `tls` ({ca, cert, key}: PEM paths) to connect over mutual TLS.
// Commands:
//   admin    {calls: [{call, args}]}: each admin call in turn; prints {event: "result", call,
//            result} or {event: "failed", call, error} (a KafkaJS error: name, type, message),
//            and goes on with the next call.
//   produce  {topic, messages, idempotent, acks, compression}: one producer.send; prints
//            {event: "sent", metadata} (KafkaJS's RecordMetadata per partition).
//   group    {topic, groupId, members, expect, produce}: `members` consumers join the group one
//            after the other, each waiting until the group has rebalanced over every member so
//            far; prints {event: "joined", member, assignment} on each join, then produces
//            `produce` (if any), consumes until `expect` distinct records arrived, commits each
//            member's next offsets explicitly and prints {event: "consumed", member, records}
//            and {event: "committed", member, offsets}.
//   produce-through {topic, count, pauseAt}: an idempotent producer sends r0..r<count-1> one by
//            one at acks=-1, retrying through failovers; prints {event: "acked", value, offset} or
//            {event: "failed", value, error} for each; before each index in `pauseAt` it prints
//            {event: "paused", at} and waits for a line on stdin (the harness injects a fault).
'use strict'

const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n')

const errorInfo = (e) => ({
  name: e.name,
  type: e.type || null,
  message: e.message,
  retriable: Boolean(e.retriable),
  // KafkaJSAggregateError (createTopics, ...): one error per topic or resource
  errors: Array.isArray(e.errors) ? e.errors.map(errorInfo) : undefined,
})

const stderrLogger = () => ({ namespace, level, label, log }) => {
  process.stderr.write(`[${label}] ${namespace}: ${JSON.stringify(log)}\n`)
}

// `tls`: {ca, cert, key} PEM file paths: TLS with a client certificate (mutual TLS).
function makeKafka(bootstrap, tls) {
  const level = logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN']
  const read = (path) => require('fs').readFileSync(path, 'utf-8')
  return new Kafka({
    clientId: 'reflog-kafkajs',
    brokers: bootstrap.split(','),
    ssl: tls ? { ca: [read(tls.ca)], cert: read(tls.cert), key: read(tls.key) } : false,
    logLevel: level === undefined ? logLevel.WARN : level,
    logCreator: stderrLogger,
    retry: { retries: 5, initialRetryTime: 100 },
  })
}

async function admin(kafka, { calls }) {
  const client = kafka.admin()
  await client.connect()
  try {
    for (const { call, args = [] } of calls) {
      try {
        const result = await client[call](...args)
        emit({ event: 'result', call, result: result === undefined ? null : result })
      } catch (e) {
        emit({ event: 'failed', call, error: errorInfo(e) })
      }
    }
  } finally {
    await client.disconnect()
  }
}

async function produce(kafka, { topic, messages, idempotent = true, acks = -1, compression = 'None' }) {
  const producer = kafka.producer({ idempotent, maxInFlightRequests: idempotent ? 1 : 5 })
  await producer.connect()
  try {
    const metadata = await producer.send({
      topic,
      acks,
      compression: CompressionTypes[compression],
      messages,
    })
    emit({ event: 'sent', metadata })
  } finally {
    await producer.disconnect()
  }
}

// Resolves when `predicate()` holds, checked after every instrumentation event.
function waiter() {
  const pending = []
  return {
    until(predicate) {
      if (predicate()) return Promise.resolve()
      return new Promise((resolve) => pending.push({ predicate, resolve }))
    },
    poke() {
      for (let i = pending.length - 1; i >= 0; i--) {
        if (pending[i].predicate()) {
          pending[i].resolve()
          pending.splice(i, 1)
        }
      }
    },
  }
}

async function group(kafka, { topic, groupId, members = 1, expect, produce: toProduce = [] }) {
  const events = waiter()
  const consumers = []
  const joins = [] // per member: number of GROUP_JOIN events
  const assignment = [] // per member: the latest assignment of `topic`
  const records = [] // per member: [{partition, offset, key, value}]
  const seen = new Set()

  const covering = (count) => {
    // The latest assignments of the first `count` members are disjoint and all non-empty.
    const all = assignment.slice(0, count).flat()
    return (
      assignment.length >= count &&
      assignment.slice(0, count).every((a) => a.length > 0) &&
      new Set(all).size === all.length
    )
  }

  try {
    for (let member = 0; member < members; member++) {
      const consumer = kafka.consumer({
        groupId,
        heartbeatInterval: 200,
        maxWaitTimeInMs: 200,
        sessionTimeout: 10000,
        rebalanceTimeout: 10000,
      })
      consumers.push(consumer)
      // consumer.run() resolves once this member has joined, so the other members' join counts
      // are taken before it starts.
      const before = joins.slice()
      joins.push(0)
      records.push([])
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        joins[member] += 1
        assignment[member] = payload.memberAssignment[topic] || []
        emit({ event: 'joined', member, join: joins[member], assignment: assignment[member] })
        events.poke()
      })
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          records[member].push({
            partition,
            offset: message.offset,
            key: message.key === null ? null : message.key.toString(),
            value: message.value === null ? null : message.value.toString(),
          })
          seen.add(`${partition}:${message.offset}`)
          events.poke()
        },
      })
      // Every member so far has joined since this one started, and their shares are disjoint.
      await events.until(
        () => joins.every((n, i) => n > (i === member ? 0 : before[i])) && covering(member + 1)
      )
    }
    if (toProduce.length > 0) {
      await produce(kafka, { topic, messages: toProduce })
    }
    await events.until(() => seen.size >= expect)
    for (let member = 0; member < members; member++) {
      const offsets = []
      for (const partition of assignment[member]) {
        const mine = records[member].filter((r) => r.partition === partition)
        if (mine.length === 0) continue
        const last = mine.map((r) => BigInt(r.offset)).reduce((a, b) => (a > b ? a : b))
        offsets.push({ topic, partition, offset: (last + 1n).toString() })
      }
      await consumers[member].commitOffsets(offsets)
      emit({ event: 'consumed', member, records: records[member] })
      emit({ event: 'committed', member, offsets })
    }
  } finally {
    for (const consumer of consumers) {
      await consumer.disconnect()
    }
  }
}

// One line of stdin (the harness's "go"), or end of input.
function stdinLines() {
  const lines = require('readline').createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  return () => lines.next()
}

async function produceThrough(kafka, { topic, count, pauseAt = [] }) {
  const nextLine = stdinLines()
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 40, initialRetryTime: 100, maxRetryTime: 2000 },
  })
  await producer.connect()
  try {
    for (let i = 0; i < count; i++) {
      if (pauseAt.includes(i)) {
        emit({ event: 'paused', at: i })
        await nextLine()
      }
      const value = `r${i}`
      try {
        const [metadata] = await producer.send({ topic, acks: -1, messages: [{ value }] })
        emit({ event: 'acked', value, partition: metadata.partition, offset: metadata.baseOffset })
      } catch (e) {
        emit({ event: 'failed', value, error: errorInfo(e) })
      }
    }
  } finally {
    await producer.disconnect()
  }
}

const COMMANDS = { admin, produce, group, 'produce-through': produceThrough }

async function main() {
  const [command, bootstrap, json] = process.argv.slice(2)
  if (!COMMANDS[command]) throw new Error(`unknown command ${command}`)
  const args = JSON.parse(json || '{}')
  await COMMANDS[command](makeKafka(bootstrap, args.tls), args)
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ event: 'error', error: errorInfo(e) })
    process.stderr.write(`${e.stack}\n`)
    process.exit(1)
  }
)
