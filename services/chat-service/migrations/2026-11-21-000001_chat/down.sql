DROP TABLE directory;
DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE room_members;
DROP TABLE rooms;
