// Type-level tests, checked by `tsc -p test` in `npm test` (no code runs): each line marked
// with an expect-error directive must be a type error, or the check fails.
import { HuddleClient, Meeting, type HuddleEvents, type Message, type RoomJoinedEvent } from '@huddle-go/client';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

const client = new HuddleClient({ url: 'ws://127.0.0.1:8080/ws' });

// Listeners get the event's data type, by event name.
client.on('message', (m) => {
  expectType<Equal<typeof m, Message>>(true);
  m.sender.username.toUpperCase();
});
client.on('presence', (p) => {
  expectType<Equal<typeof p.status, 'online' | 'away' | 'offline'>>(true);
});
client.on('state', ({ state }) => {
  expectType<Equal<typeof state, 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'>>(true);
});
client.on('error', (e) => {
  // @ts-expect-error: an error code the protocol does not have
  if (e.code === 'oops') return;
});
// @ts-expect-error: a message has no `text`
client.on('message', (m) => m.text);
// An event this client has no type for (a server extension) is unknown data.
client.on('sfu_tracks', (d) => {
  expectType<Equal<typeof d, unknown>>(true);
});

// Requests: the payload is checked and the reply typed.
async function requests(): Promise<void> {
  const joined = await client.request('join_room', { roomId: 'lobby' });
  expectType<Equal<typeof joined, RoomJoinedEvent>>(true);
  const h = await client.request('get_history', { roomId: 'lobby', after: 'id', limit: 100 });
  expectType<Equal<typeof h, HuddleEvents['history']>>(true);
  // @ts-expect-error: join_room needs a roomId
  await client.request('join_room', {});
  // @ts-expect-error: roomId is a string
  await client.request('join_room', { roomId: 42 });
  // @ts-expect-error: typing has no reply to wait for: use send()
  await client.request('typing', { roomId: 'lobby', isTyping: true });
  client.send('typing', { roomId: 'lobby', isTyping: true });
  // @ts-expect-error: isTyping is required
  client.send('typing', { roomId: 'lobby' });
  const m = await client.sendMessage('lobby', 'hi');
  expectType<Equal<typeof m, Message>>(true);
  // An event this client has no type for: name its reply, get that reply's type.
  const pong = await client.request('custom_ping', { x: 1 }, { reply: 'pong' });
  expectType<Equal<typeof pong, HuddleEvents['pong']>>(true);
}
void requests;

// Meeting events are typed too.
const meeting = new Meeting(client);
meeting.on('remote_stream', ({ userId, stream }) => {
  expectType<Equal<typeof userId, string>>(true);
  expectType<Equal<typeof stream, MediaStream>>(true);
});
// @ts-expect-error: the data of remote_left is not a string
meeting.on('remote_left', (d: string) => d);
